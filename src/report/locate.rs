// SPDX-License-Identifier: GPL-2.0-or-later
//! The `locate` report.

use crate::format::partition::TableKind;
use crate::report::Tool;
use crate::storage::disk::PartitionSummary;
use crate::storage::sysfs::DeviceFacts;
use serde::Serialize;

/// Windows facts of one partition.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct WindowsFacts {
    /// `ComputerName` of the boot control set.
    pub computer_name: Option<String>,
    /// ProductName.
    pub product_name: Option<String>,
    /// DisplayVersion.
    pub display_version: Option<String>,
    /// CurrentBuild.
    pub current_build: Option<String>,
    /// NLA verdict (what Windows enforces).
    pub nla: Option<crate::report::Nla>,
    /// SYSTEM hive dirty.
    pub system_dirty: bool,
    /// `hiberfil.sys` holds an active image.
    pub hibernation: Option<String>,
    /// A problem reading the hives.
    pub error: Option<String>,
}

/// One partition.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct PartitionReport {
    /// What it holds.
    #[serde(flatten)]
    pub summary: PartitionSummary,
    /// The partition's own device node (`/dev/nvme1n1p2`), when the
    /// kernel shows one; `null` for an image file.
    pub device: Option<String>,
    /// Windows facts, for partitions that hold Windows.
    pub windows: Option<WindowsFacts>,
}

/// One disk.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct DiskReport {
    /// Device or image.
    pub path: String,
    /// Size, bytes.
    pub size: u64,
    /// What the kernel says about the device: model, serial, the EBS
    /// volume id on AWS Nitro, the SCSI address and Azure LUN (all `null`
    /// for an image file).
    #[serde(flatten)]
    pub device: DeviceFacts,
    /// Partition table.
    pub table: Option<TableKind>,
    /// Sector size the partition table was parsed with (the device's
    /// logical sector size when there is no table or it could not be read).
    pub sector_size: u32,
    /// The device's logical sector size (512 for an image file).
    pub logical_sector_size: u32,
    /// Mount points using it (a write would be refused).
    pub mounted: Vec<String>,
    /// The system disk of the Windows that runs ntrescue (its system
    /// volume's NTFS serial is on it): not a rescue candidate, not read.
    pub host: bool,
    /// Partitions.
    pub partitions: Vec<PartitionReport>,
    /// Table warnings or the error that stopped the scan.
    pub notes: Vec<String>,
}

/// What `locate` prints.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct LocateReport {
    /// Schema tag.
    pub schema: &'static str,
    /// Tool.
    pub tool: Tool,
    /// "locate".
    pub command: &'static str,
    /// The paths given.
    pub source: crate::report::envelope::GivenPaths,
    /// Disks looked at.
    pub disks: Vec<DiskReport>,
}
