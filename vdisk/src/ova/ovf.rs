//! The OVF 1.0 envelope of an OVA: one disk, one VM, and the guestinfo
//! properties vSphere shows at deploy time.
//!
//! Modelled on the envelopes of flatcar/scripts (`template_vmware.ovf`),
//! Bottlerocket (`template-unified-secboot.ovf`) and kubernetes-sigs
//! image-builder (`ovf_template.xml`); no text copied. The hardware:
//!
//! - EFI firmware (`vmw:Config firmware=efi`), `vmx-15` (ESXi 6.7 U2+);
//! - a paravirtual SCSI controller (`VirtualSCSI`, Linux `vmw_pvscsi`, which
//!   the image's initramfs must hold) with the disk on it, as Flatcar and
//!   image-builder do;
//! - one `VmxNet3` adapter (Linux `vmxnet3`) on "VM Network";
//! - `disk.enableUUID` so the guest sees stable disk serials (CSI drivers
//!   need them).
//!
//! `ovf:transport="com.vmware.guestInfo"` makes vSphere hand the properties
//! to the guest as the `guestinfo.ovfEnv` document (`oe:key`/`oe:value`),
//! which kubebake-firstboot reads.

use crate::VmSpec;

/// What the envelope says about the disk file.
pub(super) struct DiskFile<'a> {
    /// Member name of the VMDK in the OVA.
    pub href: &'a str,
    /// Its size in bytes.
    pub size: u64,
    /// Virtual disk size in bytes.
    pub capacity: u64,
    /// Bytes of the virtual disk that hold data.
    pub populated: u64,
}

/// The user-configurable properties: key, label, description, default.
const PROPERTIES: [(&str, &str, &str, &str); 4] = [
    (
        "guestinfo.userdata",
        "Seed (user data)",
        "The node's #cloud-config seed for kubebake-firstboot, base64-encoded (base64 -w0 seed.yaml); leave empty to give it later as the guestinfo.userdata extraConfig key",
        "",
    ),
    (
        "guestinfo.userdata.encoding",
        "Seed encoding",
        "How the seed above is encoded: base64 or gzip+base64",
        "base64",
    ),
    (
        "guestinfo.metadata",
        "Metadata",
        "Optional instance metadata (local-hostname, instance-id), base64-encoded YAML or JSON",
        "",
    ),
    (
        "guestinfo.metadata.encoding",
        "Metadata encoding",
        "How the metadata above is encoded: base64 or gzip+base64",
        "base64",
    ),
];

/// The envelope for `vm` with `disk`.
pub(super) fn envelope(vm: &VmSpec, disk: &DiskFile<'_>) -> String {
    let name = escape(&vm.name);
    let description = escape(&vm.description);
    let (cpus, mem) = (vm.cpus, vm.memory_mib);
    let DiskFile {
        href,
        size,
        capacity,
        populated,
    } = disk;
    let href = escape(href);
    let mut props = String::new();
    for (key, label, desc, value) in PROPERTIES {
        props.push_str(&format!(
            r#"      <Property ovf:key="{key}" ovf:type="string" ovf:userConfigurable="true" ovf:value="{value}">
        <Label>{label}</Label>
        <Description>{desc}</Description>
      </Property>
"#,
            desc = escape(desc)
        ));
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References>
    <File ovf:id="file1" ovf:href="{href}" ovf:size="{size}"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="{capacity}" ovf:capacityAllocationUnits="byte" ovf:populatedSize="{populated}" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="VM Network">
      <Description>The network of the first adapter</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="{name}">
    <Info>A Kubernetes node built by kubebake</Info>
    <Name>{name}</Name>
    <AnnotationSection>
      <Info>A human-readable annotation</Info>
      <Annotation>{description}</Annotation>
    </AnnotationSection>
    <ProductSection ovf:required="false">
      <Info>The seed kubebake-firstboot reads at first boot</Info>
      <Product>{name}</Product>
      <Vendor>kubebake</Vendor>
{props}    </ProductSection>
    <OperatingSystemSection ovf:id="100" vmw:osType="other5xLinux64Guest">
      <Info>The operating system installed</Info>
      <Description>Debian GNU/Linux (Linux 6.x, 64-bit)</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection ovf:transport="com.vmware.guestInfo">
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{name}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-15</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>{cpus} virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>{cpus}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>{mem}MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>{mem}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI Controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard Disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:Description>VmxNet3 ethernet adapter on "VM Network"</rasd:Description>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>
      <vmw:ExtraConfig ovf:required="false" vmw:key="disk.enableUUID" vmw:value="TRUE"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"#
    )
}

/// `s` as XML character data or an attribute value: the five special
/// characters as entities, characters XML 1.0 forbids dropped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_forbidden_characters() {
        assert_eq!(
            escape("a&b<c>\"d\"'e'\u{1}\u{7f}ü\n"),
            "a&amp;b&lt;c&gt;&quot;d&quot;&apos;e&apos;ü\n"
        );
    }
}
