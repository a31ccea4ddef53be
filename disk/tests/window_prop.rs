//! Window behaves exactly like the matching slice of its inner stream, whatever the mix of
//! reads, writes and seeks.

use kubebake_disk::Window;
use proptest::prelude::*;
use std::io::{Cursor, Read, Seek, SeekFrom, Write};

#[derive(Debug, Clone)]
enum Op {
    Read(usize),
    Write(Vec<u8>),
    Start(u64),
    Current(i64),
    End(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..64).prop_map(Op::Read),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Op::Write),
        (0u64..120).prop_map(Op::Start),
        (-80i64..80).prop_map(Op::Current),
        (-120i64..20).prop_map(Op::End),
    ]
}

proptest! {
    #[test]
    fn window_matches_a_model(offset in 0u64..50, len in 0u64..100, ops in proptest::collection::vec(op(), 1..40)) {
        let base: Vec<u8> = (0..200u32).map(|i| (i * 7) as u8).collect();
        let mut w = Window::new(Cursor::new(base.clone()), offset, Some(len));
        // Model: the bytes of the window and a position.
        let mut model = base[offset as usize..(offset + len) as usize].to_vec();
        let mut pos: u64 = 0;
        for op in ops {
            match op {
                Op::Read(n) => {
                    let mut buf = vec![0u8; n];
                    let got = w.read(&mut buf).expect("read");
                    let avail = (len.saturating_sub(pos) as usize).min(n);
                    prop_assert_eq!(got, avail);
                    if avail > 0 {
                        prop_assert_eq!(&buf[..got], &model[pos as usize..pos as usize + got]);
                    }
                    pos += got as u64;
                }
                Op::Write(data) => {
                    let r = w.write(&data);
                    if data.is_empty() {
                        prop_assert_eq!(r.expect("empty write"), 0);
                    } else if pos + data.len() as u64 <= len {
                        prop_assert_eq!(r.expect("write inside"), data.len());
                        model[pos as usize..pos as usize + data.len()].copy_from_slice(&data);
                        pos += data.len() as u64;
                    } else {
                        prop_assert!(r.is_err(), "write crossing the end must fail");
                    }
                }
                Op::Start(n) => {
                    prop_assert_eq!(w.seek(SeekFrom::Start(n)).expect("seek"), n);
                    pos = n;
                }
                Op::Current(d) => match pos.checked_add_signed(d) {
                    Some(p) => {
                        prop_assert_eq!(w.seek(SeekFrom::Current(d)).expect("seek"), p);
                        pos = p;
                    }
                    None => prop_assert!(w.seek(SeekFrom::Current(d)).is_err()),
                },
                Op::End(d) => match len.checked_add_signed(d) {
                    Some(p) => {
                        prop_assert_eq!(w.seek(SeekFrom::End(d)).expect("seek"), p);
                        pos = p;
                    }
                    None => prop_assert!(w.seek(SeekFrom::End(d)).is_err()),
                },
            }
        }
        // Bytes outside the window are untouched, inside equal the model.
        let inner = w.into_inner().into_inner();
        let (o, l) = (offset as usize, len as usize);
        prop_assert_eq!(&inner[..o], &base[..o]);
        prop_assert_eq!(&inner[o..o + l], &model[..]);
        prop_assert_eq!(&inner[o + l..], &base[o + l..]);
    }
}
