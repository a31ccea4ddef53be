//! The OVF environment: `vmware-rpctool "info-get guestinfo.ovfEnv"`, the
//! XML document vSphere writes from an OVA's `ProductSection` properties
//! when the template uses the `com.vmware.guestInfo` transport. Its
//! `PropertySection` carries `<Property oe:key="guestinfo.userdata"
//! oe:value="…"/>` and the `.encoding`/`guestinfo.metadata` properties,
//! decoded like the extraConfig keys of the same names.
//!
//! Parsed with a namespace-aware XML parser (roxmltree: no DTDs, so no
//! entity expansion); the document is read up to [`CAP`]; errors name
//! `guestinfo.ovfEnv`, the problem and the fix, never a value.

use super::vmware::{decode, present, rpc_get, Answer};
use super::{DsError, SeedFiles};
use kubebake_seed::limits::{human, SeedFile};

/// The guestinfo key holding the OVF environment.
pub const KEY: &str = "guestinfo.ovfEnv";

/// The OVF environment namespace (DSP8027), of the elements and of the
/// `oe:key`/`oe:value` attributes.
pub const NS: &str = "http://schemas.dmtf.org/ovf/environment/1";

/// The most of the document read: 4 MiB, four times the user-data cap, for
/// the base64 of user-data and meta-data, XML escaping and vSphere's
/// sections.
pub const CAP: u64 = 4 << 20;

/// Nodes (elements, text, …) parsed at most; vSphere's document has a few
/// dozen: bounds the tree's memory whatever a document holds.
const NODES: u32 = 100_000;

/// What to do about a bad OVF environment.
const FIX: &str = "fix: let vSphere write it from the template's OVF properties, \
     or give a complete OVF environment document when setting it by hand, \
     or set the seed in the guestinfo.userdata extraConfig key instead";

fn bad(why: String) -> DsError {
    DsError::Decode {
        what: KEY.to_string(),
        why,
    }
}

/// The `oe:key` → `oe:value` pairs of the document's own `PropertySection`
/// (not those of a vApp's `Entry` children), in document order.
pub fn properties(xml: &str) -> Result<Vec<(String, String)>, DsError> {
    let opts = roxmltree::ParsingOptions {
        nodes_limit: NODES,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(xml, opts)
        .map_err(|e| bad(format!("not well-formed XML ({e}); {FIX}")))?;
    let root = doc.root_element();
    if !root.has_tag_name((NS, "Environment")) {
        let ns = root.tag_name().namespace().unwrap_or("no namespace");
        return Err(bad(format!(
            "the root element is {} ({ns}), not an OVF environment's Environment ({NS}); {FIX}",
            root.tag_name().name()
        )));
    }
    let mut out = Vec::new();
    let sections = root
        .children()
        .filter(|n| n.has_tag_name((NS, "PropertySection")));
    for section in sections {
        for p in section
            .children()
            .filter(|n| n.has_tag_name((NS, "Property")))
        {
            let line = p.document().text_pos_at(p.range().start).row;
            let attr = |name: &str| {
                p.attribute((NS, name)).ok_or_else(|| {
                    bad(format!(
                        "the Property on line {line} has no oe:{name} attribute; {FIX}"
                    ))
                })
            };
            out.push((attr("key")?.to_string(), attr("value")?.to_string()));
        }
    }
    Ok(out)
}

/// The value of property `key` unless empty or cleared (`---`); a key
/// given twice is an error (which one would be meant?).
fn value<'a>(props: &'a [(String, String)], key: &str) -> Result<Option<&'a str>, DsError> {
    let mut found = props.iter().filter(|(k, _)| k == key).map(|(_, v)| v);
    let v = found.next();
    if found.next().is_some() {
        return Err(bad(format!(
            "property {key} is given more than once; {FIX}"
        )));
    }
    Ok(v.and_then(|v| present(v)))
}

/// Decodes property `key` (per `key.encoding`) when it is set.
fn decoded(
    props: &[(String, String)],
    key: &str,
    kind: SeedFile,
) -> Result<Option<Vec<u8>>, DsError> {
    let Some(v) = value(props, key)? else {
        return Ok(None);
    };
    let enc = value(props, &format!("{key}.encoding"))?;
    decode(&format!("{KEY} property {key}"), v, enc, kind).map(Some)
}

/// The seed of an OVF environment document: `None` when its
/// `guestinfo.userdata` is missing, empty (the template's default) or
/// cleared.
pub fn seed(xml: &str) -> Result<Option<SeedFiles>, DsError> {
    let props = properties(xml)?;
    let Some(user_data) = decoded(&props, "guestinfo.userdata", SeedFile::UserData)? else {
        return Ok(None);
    };
    Ok(Some(SeedFiles {
        user_data,
        meta_data: decoded(&props, "guestinfo.metadata", SeedFile::MetaData)?,
        network_config: None,
        node_overrides: Vec::new(),
        source: "vmware-ovfenv".into(),
    }))
}

/// Reads the seed from `guestinfo.ovfEnv`; `None` when unset or without a
/// seed.
pub fn fetch() -> Result<Option<SeedFiles>, DsError> {
    match rpc_get(KEY, CAP)? {
        Answer::Unset => Ok(None),
        Answer::Value(xml) => seed(&xml),
        Answer::TooLarge => Err(bad(format!(
            "larger than {}, the cap for the OVF environment; fix: a seed holds \
             configuration only, so bake large files into the image (profile overlays) \
             or fetch them from runcmd",
            human(CAP)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An OVF environment in the shape vSphere 8 writes for the
    /// `com.vmware.guestInfo` transport (`Environment` with `oe:id` and
    /// `ve:vCenterId`, `PlatformSection`, a sorted `PropertySection`,
    /// `ve:EthernetAdapterSection`), as shown by vmware-archive/vmw-ovflib
    /// `ovf_test.go` and the vCloud API Programming Guide's
    /// `vmtoolsd --cmd 'info-get guestinfo.ovfEnv'` output.
    const VSPHERE: &str = include_str!("../../tests/data/ovf-env-vsphere.xml");

    fn keys(props: &[(String, String)]) -> Vec<&str> {
        props.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn cap_is_four_user_data_caps() {
        assert_eq!(CAP, 4 * SeedFile::UserData.cap());
    }

    #[test]
    fn vsphere_document() {
        let props = properties(VSPHERE).expect("parse");
        assert_eq!(
            keys(&props),
            [
                "guestinfo.metadata",
                "guestinfo.metadata.encoding",
                "guestinfo.userdata",
                "guestinfo.userdata.encoding"
            ]
        );
        let s = seed(VSPHERE).expect("seed").expect("some");
        assert!(s
            .user_data
            .starts_with(b"#cloud-config\nhostname: vsphere-node-1\n"));
        assert_eq!(
            s.meta_data.as_deref(),
            Some(&b"instance-id: vsphere-node-1\nlocal-hostname: vsphere-node-1\n"[..])
        );
    }

    /// Namespaces, not prefixes: any prefix bound to the OVF environment
    /// URI works; `oe:` bound elsewhere, or no prefix, does not.
    #[test]
    fn namespaces_not_prefixes() {
        let other = VSPHERE
            .replace("oe:", "env:")
            .replace("xmlns:oe=", "xmlns:env=");
        assert_eq!(
            properties(&other).expect("parse"),
            properties(VSPHERE).expect("parse")
        );
        let wrong = VSPHERE.replace(
            "xmlns:oe=\"http://schemas.dmtf.org/ovf/environment/1\"",
            "xmlns:oe=\"http://example.invalid/oe\"",
        );
        let e = properties(&wrong).expect_err("oe: elsewhere").to_string();
        assert!(e.contains("line 16 has no oe:key attribute"), "{e}");
        let bare = VSPHERE
            .replace("oe:key=", "key=")
            .replace("oe:value=", "value=");
        assert!(properties(&bare).is_err());
    }

    /// A vApp's environment nests its VMs' sections in `Entry` elements:
    /// only the document's own `PropertySection` is this VM's.
    #[test]
    fn entry_sections_are_not_this_vms() {
        let own = "<PropertySection>\n   </PropertySection>";
        let doc = VSPHERE
            .replacen(
                "<PropertySection>",
                "<Entry oe:id=\"child\"><PropertySection>",
                1,
            )
            .replacen(
                "</PropertySection>",
                &format!("</PropertySection></Entry>{own}"),
                1,
            );
        assert!(seed(&doc).expect("parse").is_none());
    }

    #[test]
    fn problems_are_named() {
        let twice = VSPHERE.replace(
            "<Property oe:key=\"guestinfo.userdata.encoding\"",
            "<Property oe:key=\"guestinfo.userdata\" oe:value=\"\"/><Property oe:key=\"guestinfo.userdata.encoding\"",
        );
        let e = seed(&twice).expect_err("twice").to_string();
        assert!(
            e.starts_with(
                "guestinfo.ovfEnv: property guestinfo.userdata is given more than once; fix:"
            ),
            "{e}"
        );
        let e = seed("no xml").expect_err("text").to_string();
        assert!(
            e.starts_with("guestinfo.ovfEnv: not well-formed XML ("),
            "{e}"
        );
        let e = seed("<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\"/>")
            .expect_err("ovf")
            .to_string();
        assert!(e.starts_with("guestinfo.ovfEnv: the root element is Envelope (http://schemas.dmtf.org/ovf/envelope/1), not an OVF environment's Environment"), "{e}");
        let bad64 = VSPHERE.replace("oe:value=\"I2Nsb3Vk", "oe:value=\"!!2Nsb3Vk");
        let e = seed(&bad64).expect_err("base64").to_string();
        assert!(
            e.starts_with("guestinfo.ovfEnv property guestinfo.userdata: base64"),
            "{e}"
        );
    }

    /// No DTD, so no entity expansion (billion laughs) and no external
    /// entities: refused before anything is expanded.
    #[test]
    fn dtd_is_refused() {
        let lol = format!(
            "<?xml version=\"1.0\"?><!DOCTYPE Environment [<!ENTITY a \"{}\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>{}",
            "x".repeat(64),
            VSPHERE.split_once("?>").expect("decl").1.replace("oe:value=\"base64\"", "oe:value=\"&b;\"")
        );
        let e = seed(&lol).expect_err("dtd").to_string();
        assert!(
            e.contains("not well-formed XML") && e.contains("fix:"),
            "{e}"
        );
    }
}
