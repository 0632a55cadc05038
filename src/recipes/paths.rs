// SPDX-License-Identifier: GPL-2.0-or-later
//! Where the RDP settings live in the hives, and the values each fix and
//! report reads (hive-write-safety.md §4, rdp-causes.md).

/// Path of the Terminal Server key inside a control set.
pub const TS_PATH: &str = r"Control\Terminal Server";

/// Path of the RDP listener key inside a control set.
pub const RDP_TCP_PATH: &str = r"Control\Terminal Server\WinStations\RDP-Tcp";

/// Group Policy key in the SOFTWARE hive.
pub const POLICY_PATH: &str = r"Policies\Microsoft\Windows NT\Terminal Services";

/// The three values Microsoft's NLA workaround sets (0/0/0 off, 1/1/1 on).
pub const NLA_VALUES: [&str; 3] = [
    "SecurityLayer",
    "UserAuthentication",
    "fAllowSecProtocolNegotiation",
];

/// Other RDP-Tcp values reported.
pub const RDP_TCP_EXTRA: [&str; 2] = ["PortNumber", "MinEncryptionLevel"];

/// Values looked for in the policy key.
pub const POLICY_VALUES: [&str; 4] = [
    "fDenyTSConnections",
    "UserAuthentication",
    "SecurityLayer",
    "fAllowSecProtocolNegotiation",
];
