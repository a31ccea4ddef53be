//! `kubebake-firstboot`: the first-boot agent of kubebake nodes.
//!
//! At first power-on it finds the node's seed (kernel cmdline, boot partition,
//! CIDATA volume, embedded seed, VMware guestinfo or EC2 IMDSv2), applies the
//! host settings, checks every kubeadm prerequisite, renders the kubeadm
//! configuration and runs `kubeadm init` or `kubeadm join`. Every phase is
//! persisted on STATE so a power cut resumes safely and a finished node never
//! runs again. Secrets never reach the console, the journal or the status file.

pub mod agent;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod datasource;
pub mod host;
pub mod http;
pub mod kubeadm;
pub mod network;
pub mod preflight;
pub mod redact;
pub mod reseed;
pub mod seedio;
pub mod state;
pub mod status;
pub mod systemd;
