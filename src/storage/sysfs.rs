// SPDX-License-Identifier: GPL-2.0-or-later
//! Device discovery for orchestrators: what the kernel says about a block
//! device (model, serial, SCSI address, partition nodes) and which cloud
//! disk it is (EBS volume id on AWS Nitro, LUN on Azure).
//!
//! Everything is read from two roots, `/sys` and `/dev` on a live system,
//! injectable so tests run against a fake tree. Missing files are simply
//! absent facts: an image file has none of them.
//!
//! Sources:
//! - `/sys/block/NAME/device/{model,vendor,serial}` (SCSI, virtio, and
//!   NVMe: Linux `Documentation/ABI/testing/sysfs-block`,
//!   `drivers/nvme/host/sysfs.c` exposes `serial` and `model`);
//! - `/sys/block/NAME/NAMEpN/partition` holds the partition number
//!   (`Documentation/ABI/testing/sysfs-block`, "partition");
//! - on AWS Nitro instances the NVMe controller's serial number is the EBS
//!   volume id without its dash, `vol0123456789abcdef0` (AWS EC2 user
//!   guide, "Amazon EBS and NVMe": "the serial number of the NVMe device
//!   is the EBS volume ID");
//! - on Azure, the udev rules of the Linux agent (WALinuxAgent,
//!   `66-azure-storage.rules`) link data disks as
//!   `/dev/disk/azure/scsi1/lunN`; the LUN is also the last field of the
//!   device's SCSI address `H:C:T:L`, the name of the directory that
//!   `/sys/block/sdX/device` links to.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The prefix of an EBS volume id.
const EBS_PREFIX: &str = "vol-";
/// How an NVMe serial spells the id: "vol" and 17 lowercase hex digits
/// (volume ids created since 2016), or 8 (older ones).
const EBS_SERIAL_PREFIX: &str = "vol";
/// Hex digits of a long and of a short EBS volume id.
const EBS_ID_DIGITS: [usize; 2] = [17, 8];
/// The folder of Azure's data-disk LUN links, below the `/dev` root.
const AZURE_LUN_DIR: &str = "disk/azure/scsi1";

/// Where the kernel's views of devices are mounted.
#[derive(Clone, Debug)]
pub struct Roots {
    /// `/sys` on a live system.
    pub sys: PathBuf,
    /// `/dev` on a live system.
    pub dev: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            sys: PathBuf::from("/sys"),
            dev: PathBuf::from("/dev"),
        }
    }
}

/// What the kernel says about one disk.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DeviceFacts {
    /// Kernel name (`nvme1n1`, `sdc`).
    pub kernel_name: Option<String>,
    /// Vendor, for SCSI disks (`Msft`).
    pub vendor: Option<String>,
    /// Model (`Amazon Elastic Block Store`, `Virtual Disk`).
    pub model: Option<String>,
    /// Serial number as the device reports it.
    pub serial: Option<String>,
    /// On AWS Nitro: the EBS volume id the NVMe serial spells (`vol-…`).
    pub ebs_volume_id: Option<String>,
    /// SCSI address `host:channel:target:lun`.
    pub scsi_address: Option<String>,
    /// Azure LUN, from `/dev/disk/azure/scsi1/lunN` or the SCSI address of
    /// a disk on SCSI host 1... (data disks): present when either shows it.
    pub azure_lun: Option<u32>,
}

fn read_trimmed(p: &Path) -> Option<String> {
    let s = std::fs::read_to_string(p).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// The kernel name of a device path (`/dev/nvme1n1` → `nvme1n1`), after
/// following symlinks below `roots.dev` such as `/dev/disk/by-id/…`.
fn kernel_name(roots: &Roots, device: &Path) -> Option<String> {
    let real = std::fs::canonicalize(device).unwrap_or_else(|_| device.to_path_buf());
    let name = real.file_name()?.to_string_lossy().into_owned();
    roots.sys.join("block").join(&name).exists().then_some(name)
}

/// The EBS volume id an NVMe serial spells, if it has that form.
pub fn ebs_volume_id(serial: &str) -> Option<String> {
    let rest = serial.strip_prefix(EBS_SERIAL_PREFIX)?;
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let ok = EBS_ID_DIGITS.contains(&rest.len())
        && rest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    ok.then(|| format!("{EBS_PREFIX}{rest}"))
}

/// `H:C:T:L` from the name of the directory `device` links to.
fn scsi_address(sys_block_dev: &Path) -> Option<String> {
    let target = std::fs::read_link(sys_block_dev.join("device")).ok()?;
    let last = target.file_name()?.to_string_lossy().into_owned();
    let fields: Vec<&str> = last.split(':').collect();
    let numeric = fields.len() == 4
        && fields
            .iter()
            .all(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    numeric.then_some(last)
}

/// The LUN whose `/dev/disk/azure/scsi1/lunN` link names `kernel`.
fn azure_link_lun(roots: &Roots, kernel: &str) -> Option<u32> {
    let dir = roots.dev.join(AZURE_LUN_DIR);
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(n) = name.strip_prefix("lun").and_then(|n| n.parse::<u32>().ok()) else {
            continue; // lunN-partM links
        };
        let Ok(t) = std::fs::read_link(e.path()) else {
            continue;
        };
        if t.file_name().is_some_and(|f| f.to_string_lossy() == kernel) {
            return Some(n);
        }
    }
    None
}

/// Whether the device is on a Microsoft Hyper-V SCSI disk (Azure): the
/// vendor `Msft` is what its storvsc disks report.
fn is_hyperv(vendor: Option<&str>) -> bool {
    vendor.is_some_and(|v| v.eq_ignore_ascii_case("msft"))
}

/// What the kernel says about `device` (a disk).
pub fn device_facts(roots: &Roots, device: &Path) -> DeviceFacts {
    let Some(kernel) = kernel_name(roots, device) else {
        return DeviceFacts::default();
    };
    let dir = roots.sys.join("block").join(&kernel);
    let vendor = read_trimmed(&dir.join("device/vendor"));
    let model = read_trimmed(&dir.join("device/model"));
    // NVMe namespaces: the serial sits on the controller (`device`); SCSI
    // disks with VPD page 0x80 show it there too on recent kernels.
    let serial = read_trimmed(&dir.join("device/serial"));
    let ebs = serial.as_deref().and_then(ebs_volume_id);
    let scsi = scsi_address(&dir);
    let lun = azure_link_lun(roots, &kernel).or_else(|| {
        let addr = scsi.as_deref()?;
        if !is_hyperv(vendor.as_deref()) {
            return None;
        }
        addr.rsplit(':').next()?.parse().ok()
    });
    DeviceFacts {
        kernel_name: Some(kernel),
        vendor,
        model,
        serial,
        ebs_volume_id: ebs,
        scsi_address: scsi,
        azure_lun: lun,
    }
}

/// The device node of partition `number` of `device`, from the
/// `partition` files of its sysfs children; `None` for an image file or a
/// disk whose partitions the kernel has not read.
pub fn partition_device(roots: &Roots, device: &Path, number: u32) -> Option<PathBuf> {
    let kernel = kernel_name(roots, device)?;
    let dir = roots.sys.join("block").join(&kernel);
    for e in std::fs::read_dir(&dir).ok()?.flatten() {
        let Some(n) = read_trimmed(&e.path().join("partition")) else {
            continue;
        };
        if n.parse::<u32>().ok() == Some(number) {
            return Some(roots.dev.join(e.file_name()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(p: &Path, text: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[cfg(unix)]
    fn link(target: &str, at: &Path) {
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, at).unwrap();
    }

    #[test]
    fn ebs_ids_in_nvme_serials() {
        assert_eq!(
            ebs_volume_id("vol0123456789abcdef0").as_deref(),
            Some("vol-0123456789abcdef0")
        );
        assert_eq!(
            ebs_volume_id("vol-0123456789abcdef0").as_deref(),
            Some("vol-0123456789abcdef0")
        );
        assert_eq!(
            ebs_volume_id("vol12345678").as_deref(),
            Some("vol-12345678")
        );
        assert_eq!(ebs_volume_id("S4EWNX0R123456"), None);
        assert_eq!(ebs_volume_id("vol0123456789ABCDEF0"), None);
        assert_eq!(ebs_volume_id("vol0123"), None);
    }

    #[cfg(unix)]
    #[test]
    fn nitro_nvme_disk_with_partitions() {
        let t = tempfile::tempdir().unwrap();
        let roots = Roots {
            sys: t.path().join("sys"),
            dev: t.path().join("dev"),
        };
        let b = roots.sys.join("block/nvme1n1");
        file(
            &b.join("device/model"),
            "Amazon Elastic Block Store              \n",
        );
        file(&b.join("device/serial"), "vol0a1b2c3d4e5f60718 \n");
        file(&b.join("nvme1n1p1/partition"), "1\n");
        file(&b.join("nvme1n1p2/partition"), "2\n");
        file(&b.join("size"), "62914560\n");
        let dev = roots.dev.join("nvme1n1");
        file(&dev, "");
        let f = device_facts(&roots, &dev);
        assert_eq!(f.kernel_name.as_deref(), Some("nvme1n1"));
        assert_eq!(f.model.as_deref(), Some("Amazon Elastic Block Store"));
        assert_eq!(f.serial.as_deref(), Some("vol0a1b2c3d4e5f60718"));
        assert_eq!(f.ebs_volume_id.as_deref(), Some("vol-0a1b2c3d4e5f60718"));
        assert_eq!(f.azure_lun, None);
        assert_eq!(
            partition_device(&roots, &dev, 2),
            Some(roots.dev.join("nvme1n1p2"))
        );
        assert_eq!(partition_device(&roots, &dev, 3), None);
    }

    #[cfg(unix)]
    #[test]
    fn azure_lun_from_link_or_scsi_address() {
        let t = tempfile::tempdir().unwrap();
        let roots = Roots {
            sys: t.path().join("sys"),
            dev: t.path().join("dev"),
        };
        // sdc: linked as LUN 2 by the agent's udev rules.
        let c = roots.sys.join("block/sdc");
        file(&c.join("device/vendor"), "Msft    \n");
        file(&c.join("device/model"), "Virtual Disk    \n");
        file(&c.join("sdc1/partition"), "1\n");
        link("../../../sdc", &roots.dev.join("disk/azure/scsi1/lun2"));
        link(
            "../../../sdc1",
            &roots.dev.join("disk/azure/scsi1/lun2-part1"),
        );
        file(&roots.dev.join("sdc"), "");
        let f = device_facts(&roots, &roots.dev.join("sdc"));
        assert_eq!(f.azure_lun, Some(2));
        assert_eq!(f.model.as_deref(), Some("Virtual Disk"));
        assert_eq!(f.ebs_volume_id, None);
        assert_eq!(
            partition_device(&roots, &roots.dev.join("sdc"), 1),
            Some(roots.dev.join("sdc1"))
        );
        // sdd: no link; the SCSI address says LUN 5.
        let d = roots.sys.join("block/sdd");
        std::fs::create_dir_all(roots.sys.join("devices/vmbus/host3/target3:0:1/3:0:1:5")).unwrap();
        file(
            &roots
                .sys
                .join("devices/vmbus/host3/target3:0:1/3:0:1:5/vendor"),
            "Msft\n",
        );
        std::fs::create_dir_all(&d).unwrap();
        link(
            roots
                .sys
                .join("devices/vmbus/host3/target3:0:1/3:0:1:5")
                .to_str()
                .unwrap(),
            &d.join("device"),
        );
        file(&roots.dev.join("sdd"), "");
        let f = device_facts(&roots, &roots.dev.join("sdd"));
        assert_eq!(f.scsi_address.as_deref(), Some("3:0:1:5"));
        assert_eq!(f.vendor.as_deref(), Some("Msft"));
        assert_eq!(f.azure_lun, Some(5));
    }

    #[test]
    fn an_image_file_has_no_facts() {
        let t = tempfile::tempdir().unwrap();
        let roots = Roots {
            sys: t.path().join("sys"),
            dev: t.path().join("dev"),
        };
        let img = t.path().join("disk.img");
        std::fs::write(&img, [0u8; 512]).unwrap();
        assert_eq!(device_facts(&roots, &img), DeviceFacts::default());
        assert_eq!(partition_device(&roots, &img, 1), None);
    }
}
