//! Renders the kubeadm config file the agent writes (mode 0600) and passes
//! to `kubeadm init|join --config`.
//!
//! * `init`: InitConfiguration + ClusterConfiguration + KubeletConfiguration.
//!   The KubeletConfiguration goes into the cluster's `kubelet-config`
//!   ConfigMap, which every joining node then downloads; kubeadm join would
//!   ignore (and warn about) a KubeletConfiguration, so joins do not carry one.
//! * `worker`: JoinConfiguration with token discovery pinned to the CA hash.
//! * `control-plane`: the same plus `controlPlane` (advertise address and,
//!   when the seed has no full `pki`, the certificate key).
//!
//! apiVersion: `kubeadm.k8s.io/v1beta4` for kubeadm ≥ 1.31, `v1beta3` for
//! 1.26–1.30 (see [`api_version_for`]). The differences that matter here:
//! `kubeletExtraArgs` is a map in v1beta3 and a list of `{name, value}` in
//! v1beta4. `unsafeSkipCAVerification` is never emitted. Maps are sorted,
//! so the output is a pure function of the seed and the [`NodeFacts`].

use std::net::IpAddr;

use serde_norway::{Mapping, Value};

use crate::model::{Kubernetes, Role, DEFAULT_SERVICE_SUBNET};
use crate::version::Version;

/// containerd's CRI socket as kubelet and kubeadm want it.
pub const DEFAULT_CRI_SOCKET: &str = "unix:///run/containerd/containerd.sock";
/// kubelet's resolv.conf on a systemd-resolved host.
pub const RESOLV_CONF: &str = "/run/systemd/resolve/resolv.conf";
/// Bootstrap token TTL when the seed gives none (kubeadm's default).
pub const DEFAULT_TOKEN_TTL: &str = "24h";

/// What the node knows about itself at render time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    /// Node name (the hostname).
    pub node_name: String,
    /// The address chosen from `advertise` (kubelet `node-ip` and the API
    /// server's advertise address); `None` lets kubeadm pick the default route.
    pub advertise_address: Option<IpAddr>,
    /// `kubeadm version` of the binary on the node.
    pub kubeadm_version: Version,
    /// CRI socket URL, normally [`DEFAULT_CRI_SOCKET`].
    pub cri_socket: String,
}

impl NodeFacts {
    /// Facts with the default CRI socket and no advertise address.
    pub fn new(node_name: impl Into<String>, kubeadm_version: Version) -> Self {
        NodeFacts {
            node_name: node_name.into(),
            advertise_address: None,
            kubeadm_version,
            cri_socket: DEFAULT_CRI_SOCKET.to_string(),
        }
    }
}

/// kubeadm config API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// `kubeadm.k8s.io/v1beta3` (kubeadm 1.26–1.30).
    V1beta3,
    /// `kubeadm.k8s.io/v1beta4` (kubeadm ≥ 1.31).
    V1beta4,
}

impl ApiVersion {
    /// The `apiVersion:` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1beta3 => "kubeadm.k8s.io/v1beta3",
            ApiVersion::V1beta4 => "kubeadm.k8s.io/v1beta4",
        }
    }
}

/// Why rendering failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// kubeadm too old or not 1.x.
    #[error("kubeadm {0} is not supported: kubebake renders kubeadm.k8s.io/v1beta3 for 1.26–1.30 and v1beta4 for 1.31 and newer")]
    UnsupportedKubeadm(Version),
    /// The seed's version cannot be deployed by this kubeadm.
    #[error("kubernetes_version {wanted} cannot be deployed by kubeadm {kubeadm}: kubeadm deploys its own minor or the one before; fix: bake kubeadm 1.{}.x or change kubernetes_version", wanted.minor)]
    VersionSkew {
        /// The seed's `kubernetes_version`.
        wanted: Version,
        /// The node's kubeadm.
        kubeadm: Version,
    },
    /// A field the role needs is missing (validation should have caught it).
    #[error("kubernetes.{field} is required for role {role}")]
    Missing {
        /// The role.
        role: Role,
        /// The seed field.
        field: &'static str,
    },
    /// The node name is not an RFC 1123 name.
    #[error("node name: {0}")]
    NodeName(String),
    /// YAML serialisation failed.
    #[error("serialising YAML: {0}")]
    Yaml(String),
}

/// v1beta4 for ≥ 1.31, v1beta3 for 1.26–1.30, an error otherwise.
pub fn api_version_for(kubeadm: Version) -> Result<ApiVersion, RenderError> {
    match (kubeadm.major, kubeadm.minor) {
        (1, m) if m >= 31 => Ok(ApiVersion::V1beta4),
        (1, m) if m >= crate::k8s::MIN_MINOR => Ok(ApiVersion::V1beta3),
        _ => Err(RenderError::UnsupportedKubeadm(kubeadm)),
    }
}

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

struct Map(Mapping);

impl Map {
    fn new() -> Self {
        Map(Mapping::new())
    }
    fn put(&mut self, k: &str, v: Value) -> &mut Self {
        self.0.insert(s(k), v);
        self
    }
    fn done(self) -> Value {
        Value::Mapping(self.0)
    }
}

fn doc(api: &str, kind: &str) -> Map {
    let mut m = Map::new();
    m.put("apiVersion", s(api)).put("kind", s(kind));
    m
}

/// The kubelet flags kubebake sets plus the seed's extras, sorted.
fn kubelet_args(k: &Kubernetes, facts: &NodeFacts) -> Vec<(String, String)> {
    let mut args = k.kubelet_extra_args.clone();
    if let Some(ip) = facts.advertise_address {
        args.insert("node-ip".into(), ip.to_string());
    }
    if !k.node_labels.is_empty() {
        let labels: Vec<String> = k
            .node_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        args.insert("node-labels".into(), labels.join(","));
    }
    args.into_iter().collect()
}

fn node_registration(k: &Kubernetes, facts: &NodeFacts, api: ApiVersion) -> Value {
    let mut m = Map::new();
    m.put("name", s(&facts.node_name))
        .put("criSocket", s(&facts.cri_socket));
    let args = kubelet_args(k, facts);
    if !args.is_empty() {
        let v = match api {
            ApiVersion::V1beta3 => {
                let mut a = Map::new();
                for (n, val) in args {
                    a.put(&n, s(val));
                }
                a.done()
            }
            ApiVersion::V1beta4 => Value::Sequence(
                args.into_iter()
                    .map(|(n, val)| {
                        let mut a = Map::new();
                        a.put("name", s(n)).put("value", s(val));
                        a.done()
                    })
                    .collect(),
            ),
        };
        m.put("kubeletExtraArgs", v);
    }
    if let Some(taints) = &k.taints {
        let list = taints
            .iter()
            .map(|t| {
                let mut tm = Map::new();
                tm.put("key", s(&t.key));
                if let Some(v) = &t.value {
                    tm.put("value", s(v));
                }
                tm.put("effect", s(t.effect.as_str()));
                tm.done()
            })
            .collect();
        m.put("taints", Value::Sequence(list));
    }
    m.done()
}

fn advertise_endpoint(facts: &NodeFacts) -> Value {
    let mut m = Map::new();
    if let Some(ip) = facts.advertise_address {
        m.put("advertiseAddress", s(ip.to_string()));
    }
    m.done()
}

/// The `v`-prefixed version to deploy: the seed's, else kubeadm's own.
fn deploy_version(k: &Kubernetes, facts: &NodeFacts) -> Result<Version, RenderError> {
    let kubeadm = facts.kubeadm_version;
    let Some(wanted) = k.kubernetes_version else {
        return Ok(kubeadm);
    };
    if wanted.major != kubeadm.major
        || wanted.minor > kubeadm.minor
        || wanted.minor + 1 < kubeadm.minor
    {
        return Err(RenderError::VersionSkew { wanted, kubeadm });
    }
    Ok(wanted)
}

fn init_docs(
    k: &Kubernetes,
    facts: &NodeFacts,
    api: ApiVersion,
) -> Result<Vec<Value>, RenderError> {
    let version = deploy_version(k, facts)?;
    let mut init = doc(api.as_str(), "InitConfiguration");
    if let Some(token) = &k.token {
        let mut t = Map::new();
        t.put("token", s(token.expose())).put(
            "ttl",
            s(k.token_ttl.as_deref().unwrap_or(DEFAULT_TOKEN_TTL)),
        );
        init.put("bootstrapTokens", Value::Sequence(vec![t.done()]));
    }
    init.put("nodeRegistration", node_registration(k, facts, api));
    if facts.advertise_address.is_some() {
        init.put("localAPIEndpoint", advertise_endpoint(facts));
    }
    if let Some(key) = &k.certificate_key {
        init.put("certificateKey", s(key.expose()));
    }

    let mut cluster = doc(api.as_str(), "ClusterConfiguration");
    cluster.put("kubernetesVersion", s(format!("v{version}")));
    if let Some(e) = &k.endpoint {
        cluster.put("controlPlaneEndpoint", s(e.to_string()));
    }
    if let Some(r) = &k.image_repository {
        cluster.put("imageRepository", s(r));
    }
    let mut net = Map::new();
    if let Some(p) = k.effective_pod_subnet() {
        net.put("podSubnet", s(p.to_string()));
    }
    net.put(
        "serviceSubnet",
        s(k.service_subnet
            .map(|c| c.to_string())
            .unwrap_or_else(|| DEFAULT_SERVICE_SUBNET.to_string())),
    );
    cluster.put("networking", net.done());

    let mut kubelet = doc("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration");
    kubelet
        .put("cgroupDriver", s("systemd"))
        .put("failSwapOn", Value::Bool(true))
        .put("resolvConf", s(RESOLV_CONF));
    Ok(vec![init.done(), cluster.done(), kubelet.done()])
}

fn join_docs(
    k: &Kubernetes,
    facts: &NodeFacts,
    api: ApiVersion,
) -> Result<Vec<Value>, RenderError> {
    let missing = |field| RenderError::Missing {
        role: k.role,
        field,
    };
    let endpoint = k.endpoint.as_ref().ok_or_else(|| missing("endpoint"))?;
    let token = k.token.as_ref().ok_or_else(|| missing("token"))?;
    let hash = k
        .ca_cert_hash
        .as_ref()
        .ok_or_else(|| missing("ca_cert_hash"))?;
    let mut join = doc(api.as_str(), "JoinConfiguration");
    join.put("nodeRegistration", node_registration(k, facts, api));
    let mut bt = Map::new();
    bt.put("apiServerEndpoint", s(endpoint.to_string()))
        .put("token", s(token.expose()))
        .put("caCertHashes", Value::Sequence(vec![s(hash)]));
    let mut discovery = Map::new();
    discovery.put("bootstrapToken", bt.done());
    join.put("discovery", discovery.done());
    if k.role == Role::ControlPlane {
        let full_pki = k.pki.as_ref().is_some_and(|p| p.is_complete());
        let mut cp = Map::new();
        if facts.advertise_address.is_some() {
            cp.put("localAPIEndpoint", advertise_endpoint(facts));
        }
        match (&k.certificate_key, full_pki) {
            (Some(key), false) => {
                cp.put("certificateKey", s(key.expose()));
            }
            (None, false) => return Err(missing("pki")),
            _ => {}
        }
        join.put("controlPlane", cp.done());
    }
    Ok(vec![join.done()])
}

/// The kubeadm config for this node: YAML documents separated by `---`.
pub fn render(k: &Kubernetes, facts: &NodeFacts) -> Result<String, RenderError> {
    let api = api_version_for(facts.kubeadm_version)?;
    crate::checks::hostname(&facts.node_name).map_err(RenderError::NodeName)?;
    let docs = match k.role {
        Role::Init => init_docs(k, facts, api)?,
        Role::Worker | Role::ControlPlane => join_docs(k, facts, api)?,
    };
    let mut out = String::from("# written by kubebake-firstboot; contains secrets (mode 0600)\n");
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&serde_norway::to_string(d).map_err(|e| RenderError::Yaml(e.to_string()))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().expect("version")
    }

    #[test]
    fn api_versions() {
        assert_eq!(api_version_for(v("1.31.0")), Ok(ApiVersion::V1beta4));
        assert_eq!(api_version_for(v("1.35.1")), Ok(ApiVersion::V1beta4));
        assert_eq!(api_version_for(v("1.30.9")), Ok(ApiVersion::V1beta3));
        assert_eq!(api_version_for(v("1.26.0")), Ok(ApiVersion::V1beta3));
        assert!(api_version_for(v("1.25.16")).is_err());
        assert!(api_version_for(v("2.0.0")).is_err());
    }
}
