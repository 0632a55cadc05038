// SPDX-License-Identifier: GPL-2.0-or-later
//! Canonical descriptions of the generated test and demo hives (see
//! `hive-fixtures/README.md`). They are realistic in shape — the keys,
//! values and types a Windows Server SYSTEM/SOFTWARE hive has around the RDP
//! settings — but invented: no data is copied from a real system.

use crate::regf::base_block::{
    self, BASE_BLOCK_SIZE, FILE_TYPE_LOG_NEW, HEADER_SIZE, OFF_FILE_TYPE,
};
use crate::regf::build::{Data, HiveSpec, KeySpec};

/// FILETIME of the fixtures (2024-03-01T12:00:00Z): fixed, so the files
/// are reproducible.
pub const FIXTURE_TIME: u64 = 133_537_680_000_000_000;

/// Variants of the SYSTEM fixture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemVariant {
    /// Select 1/1/1, ControlSet001 and 002, NLA required.
    Modern,
    /// Select Current=2, Default=2, LastKnownGood=1.
    Current2,
    /// ControlSet001, 002, 003; LastKnownGood=3.
    ControlSet003,
    /// RDP-Tcp without the three NLA values (like Windows XP).
    MissingValues,
    /// WinStations without RDP-Tcp.
    NoRdpTcp,
    /// Modern plus tens of thousands of filler keys (≥ 30 MB), for benchmarks.
    Large,
}

impl SystemVariant {
    /// File stem used in `hive-fixtures/`.
    pub fn stem(self) -> &'static str {
        match self {
            SystemVariant::Modern => "system-modern",
            SystemVariant::Current2 => "system-current2",
            SystemVariant::ControlSet003 => "system-cs003",
            SystemVariant::MissingValues => "system-missing-values",
            SystemVariant::NoRdpTcp => "system-no-rdp-tcp",
            SystemVariant::Large => "system-large",
        }
    }

    /// The committed variants (Large is generated on demand).
    pub const COMMITTED: [SystemVariant; 5] = [
        SystemVariant::Modern,
        SystemVariant::Current2,
        SystemVariant::ControlSet003,
        SystemVariant::MissingValues,
        SystemVariant::NoRdpTcp,
    ];
}

fn dw(v: u32) -> Data {
    Data::Dword(v)
}
fn sz(s: &str) -> Data {
    Data::Sz(s.into())
}
fn esz(s: &str) -> Data {
    Data::ExpandSz(s.into())
}
fn msz(items: &[&str]) -> Data {
    Data::MultiSz(items.iter().map(|s| s.to_string()).collect())
}
fn bin(hex: &str) -> Data {
    Data::Binary(hex.into())
}

fn with(mut k: KeySpec, values: &[(&str, Data)]) -> KeySpec {
    for (n, d) in values {
        k = k.value(n, d.clone());
    }
    k
}

/// The RDP listener key with ~80 values, as on Windows Server 2016-2022.
fn rdp_tcp(with_nla: bool) -> KeySpec {
    let mut v: Vec<(&str, Data)> = vec![
        ("fEnableWinStation", dw(1)),
        ("MaxInstanceCount", dw(0xFFFF_FFFF)),
        ("PortNumber", dw(3389)),
        ("MinEncryptionLevel", dw(2)),
        ("LanAdapter", dw(0)),
        ("PdName", sz("tcp")),
        ("PdDLL", sz("tdtcp")),
        ("PdFlag", dw(0x4E)),
        ("PdClass", dw(2)),
        ("PdName1", sz("tssecsrv")),
        ("PdDLL1", sz("tssecsrv")),
        ("PdFlag1", dw(0)),
        ("PdClass1", dw(11)),
        ("WdName", sz("Microsoft RDP 8.0")),
        ("WdDLL", sz("rdpwd")),
        ("WsxDLL", sz("rdpwsx")),
        ("WdFlag", dw(0x36)),
        ("WdPrefix", sz("RDP")),
        ("CfgDLL", sz("RDPCFGEX.DLL")),
        (
            "LoadableProtocol_Object",
            sz("{5828227c-20cf-4408-b73f-73ab70b8849f}"),
        ),
        ("Comment", sz("")),
        ("Username", sz("")),
        ("Domain", sz("")),
        ("Password", sz("")),
        ("WorkDirectory", sz("")),
        ("InitialProgram", sz("")),
        ("CallbackNumber", sz("")),
        ("NWLogonServer", sz("")),
        ("WFProfilePath", sz("")),
        ("WFHomeDir", sz("")),
        ("WFHomeDirDrive", sz("")),
        ("fInheritAutoLogon", dw(1)),
        ("fInheritResetBroken", dw(1)),
        ("fInheritReconnectSame", dw(1)),
        ("fInheritInitialProgram", dw(1)),
        ("fInheritCallback", dw(0)),
        ("fInheritCallbackNumber", dw(1)),
        ("fInheritShadow", dw(1)),
        ("fInheritMaxSessionTime", dw(1)),
        ("fInheritMaxDisconnectionTime", dw(1)),
        ("fInheritMaxIdleTime", dw(1)),
        ("fInheritAutoClient", dw(1)),
        ("fInheritSecurity", dw(0)),
        ("fInheritColorDepth", dw(0)),
        ("fPromptForPassword", dw(0)),
        ("fResetBroken", dw(0)),
        ("fReconnectSame", dw(0)),
        ("fLogonDisabled", dw(0)),
        ("fAutoClientDrives", dw(1)),
        ("fAutoClientLpts", dw(1)),
        ("fForceClientLptDef", dw(1)),
        ("fDisableEncryption", dw(1)),
        ("fHomeDirectoryMapRoot", dw(0)),
        ("fUseDefaultGina", dw(0)),
        ("fDisableCpm", dw(0)),
        ("fDisableCdm", dw(0)),
        ("fDisableCcm", dw(0)),
        ("fDisableLPT", dw(0)),
        ("fDisableClip", dw(0)),
        ("fDisableExe", dw(0)),
        ("fDisableCam", dw(0)),
        ("fDisableAudioCapture", dw(0)),
        ("ColorDepth", dw(3)),
        ("Shadow", dw(1)),
        ("Callback", dw(0)),
        ("MaxConnectionTime", dw(0)),
        ("MaxDisconnectionTime", dw(0)),
        ("MaxIdleTime", dw(0)),
        ("KeyboardLayout", dw(0)),
        ("OutBufLength", dw(0x212)),
        ("OutBufCount", dw(6)),
        ("OutBufDelay", dw(0x64)),
        ("InteractiveDelay", dw(0x32)),
        ("KeepAliveTimeout", dw(0)),
        ("SelectTransport", dw(0)),
        ("SelectNetworkDetect", dw(1)),
        ("DrawGdiplusSupportLevel", dw(1)),
        ("fEnableRemoteFXAdvancedRemoteApp", dw(1)),
        (
            "SSLCertificateSHA1Hash",
            bin("5f2a7e91c04b3d88a1e6f0c2b9d47a3e60915c2d"),
        ),
        ("VirtualChannelDisabled", msz(&["RDPSND", "CLIPRDR"])),
        (
            "AuthorizationDllPath",
            esz("%SystemRoot%\\System32\\rdpcorets.dll"),
        ),
    ];
    if with_nla {
        // Where Windows Server puts them: among the first values.
        v.insert(2, ("SecurityLayer", dw(2)));
        v.insert(3, ("UserAuthentication", dw(1)));
        v.insert(4, ("fAllowSecProtocolNegotiation", dw(1)));
    }
    with(KeySpec::new("RDP-Tcp"), &v)
}

fn service(name: &str, start: u32, ty: u32, image: &str, display: &str) -> KeySpec {
    with(
        KeySpec::new(name),
        &[
            ("Start", dw(start)),
            ("Type", dw(ty)),
            ("ErrorControl", dw(1)),
            ("ImagePath", esz(image)),
            ("DisplayName", sz(display)),
            ("ObjectName", sz("LocalSystem")),
        ],
    )
}

fn control_set(variant: SystemVariant, n: u32) -> KeySpec {
    let mut winstations = with(
        KeySpec::new("WinStations"),
        &[
            ("IdleWinStationPoolCount", dw(2)),
            ("DWMFRAMEINTERVAL", dw(15)),
        ],
    )
    .key(with(
        KeySpec::new("Console"),
        &[
            ("fEnableWinStation", dw(1)),
            ("WdName", sz("Console")),
            ("ColorDepth", dw(5)),
        ],
    ));
    if variant != SystemVariant::NoRdpTcp {
        winstations = winstations.key(rdp_tcp(variant != SystemVariant::MissingValues));
    }
    let ts = with(
        KeySpec::new("Terminal Server"),
        &[
            ("fDenyTSConnections", dw(0)),
            ("fSingleSessionPerUser", dw(1)),
            ("TSUserEnabled", dw(0)),
            ("fAllowToGetHelp", dw(0)),
            ("GlassSessionId", dw(1)),
            ("DeleteTempDirsOnExit", dw(1)),
            ("PerSessionTempDir", dw(0)),
            ("NotificationTimeOut", dw(0)),
            ("SnapshotMonitors", sz("1")),
            ("StartRCM", dw(0)),
            ("InstanceID", sz("{8a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d}")),
            ("RCDependentServices", msz(&["CertPropSvc", "SessionEnv"])),
        ],
    )
    .key(winstations)
    .key(with(
        KeySpec::new("DefaultUserConfiguration"),
        &[("fInheritAutoLogon", dw(1)), ("MaxIdleTime", dw(0))],
    ))
    .key(KeySpec::new("AddIns").key(with(
        KeySpec::new("Clip Redirector"),
        &[("Name", sz("RDPClip")), ("Type", dw(3))],
    )));
    let computer = "DEMO-SRV01";
    let control = KeySpec::new("Control")
        .key(
            KeySpec::new("ComputerName")
                .key(with(
                    KeySpec::new("ComputerName"),
                    &[("ComputerName", sz(computer))],
                ))
                .key(with(
                    KeySpec::new("ActiveComputerName"),
                    &[("ComputerName", sz(computer))],
                )),
        )
        .key(ts)
        .key(with(
            KeySpec::new("Lsa"),
            &[
                ("LmCompatibilityLevel", dw(3)),
                ("disabledomaincreds", dw(0)),
                ("NoLmHash", dw(1)),
                ("Security Packages", msz(&["\"\""])),
                ("Authentication Packages", msz(&["msv1_0"])),
            ],
        ))
        .key(with(
            KeySpec::new("Session Manager"),
            &[
                ("BootExecute", msz(&["autocheck autochk *"])),
                ("ProtectionMode", dw(1)),
            ],
        ))
        .key(with(
            KeySpec::new("CrashControl"),
            &[
                ("CrashDumpEnabled", dw(7)),
                ("DumpFile", esz("%SystemRoot%\\MEMORY.DMP")),
            ],
        ));
    let mut tcpip = service(
        "Tcpip",
        0,
        1,
        "System32\\drivers\\tcpip.sys",
        "TCP/IP Protocol Driver",
    );
    tcpip = tcpip.key(with(
        KeySpec::new("Parameters"),
        &[("Hostname", sz("DEMO-SRV01")), ("EnableDHCP", dw(1))],
    ));
    let term = service(
        "TermService",
        3,
        0x20,
        "%SystemRoot%\\System32\\svchost.exe -k NetworkService",
        "Remote Desktop Services",
    )
    .key(with(
        KeySpec::new("Parameters"),
        &[("ServiceDll", esz("%SystemRoot%\\System32\\termsrv.dll"))],
    ));
    let firewall = KeySpec::new("SharedAccess").key(
        KeySpec::new("Parameters").key(
            KeySpec::new("FirewallPolicy")
                .key(with(
                    KeySpec::new("DomainProfile"),
                    &[("EnableFirewall", dw(1))],
                ))
                .key(with(
                    KeySpec::new("StandardProfile"),
                    &[("EnableFirewall", dw(1))],
                ))
                .key(with(
                    KeySpec::new("PublicProfile"),
                    &[("EnableFirewall", dw(1))],
                )),
        ),
    );
    let services = KeySpec::new("Services")
        .key(term)
        .key(tcpip)
        .key(firewall)
        .key(service(
            "SessionEnv",
            3,
            0x20,
            "%SystemRoot%\\System32\\svchost.exe -k netsvcs",
            "Remote Desktop Configuration",
        ))
        .key(service(
            "UmRdpService",
            3,
            0x20,
            "%SystemRoot%\\System32\\svchost.exe -k LocalSystemNetworkRestricted",
            "Remote Desktop Services UserMode Port Redirector",
        ))
        .key(service(
            "netvsc",
            3,
            1,
            "System32\\drivers\\netvsc.sys",
            "Hyper-V Network Adapter",
        ))
        .key(service(
            "storvsc",
            0,
            1,
            "System32\\drivers\\storvsc.sys",
            "storvsc",
        ))
        .key(service(
            "disk",
            0,
            1,
            "System32\\drivers\\disk.sys",
            "Disk Driver",
        ));
    let mut enum_key = KeySpec::new("Enum").key(KeySpec::new("Root").key(
        KeySpec::new("LEGACY_TERMSERVICE").key(with(
            KeySpec::new("0000"),
            &[("Service", sz("TermService"))],
        )),
    ));
    if variant == SystemVariant::Large {
        // ~30 MB of realistic-looking device entries.
        let mut pci = KeySpec::new("PCI");
        for dev in 0..2500u32 {
            let mut d = KeySpec::new(&format!("VEN_{:04X}&DEV_{:04X}", 0x1000 + dev % 97, dev));
            for inst in 0..3u32 {
                let mut k = with(
                    KeySpec::new(&format!(
                        "3&{:08x}&0&{inst:02X}",
                        dev.wrapping_mul(2_654_435_761)
                    )),
                    &[
                        (
                            "DeviceDesc",
                            sz(&format!("@oem{dev}.inf,%dev{dev}%;Synthetic device {dev}")),
                        ),
                        (
                            "HardwareID",
                            msz(&[
                                &format!("PCI\\VEN_{:04X}&DEV_{dev:04X}", 0x1000 + dev % 97),
                                "PCI\\CC_0200",
                            ]),
                        ),
                        ("CompatibleIDs", msz(&["PCI\\CC_020000", "PCI\\CC_0200"])),
                        ("Service", sz("netvsc")),
                        ("ConfigFlags", dw(0)),
                        ("Capabilities", dw(0x30)),
                        ("ContainerID", sz("{00000000-0000-0000-ffff-ffffffffffff}")),
                        (
                            "Driver",
                            sz(&format!(
                                "{{4d36e972-e325-11ce-bfc1-08002be10318}}\\{dev:04}"
                            )),
                        ),
                        ("Mfg", sz("@netvsc.inf,%msft%;Microsoft")),
                        ("ClassGUID", sz("{4d36e972-e325-11ce-bfc1-08002be10318}")),
                    ],
                );
                let blob: String = (0..600)
                    .map(|i| format!("{:02x}", (i * 7 + dev as usize + inst as usize) % 256))
                    .collect();
                k = k.key(with(
                    KeySpec::new("Device Parameters"),
                    &[("InstanceData", bin(&blob)), ("Index", dw(inst))],
                ));
                d = d.key(k);
            }
            pci = pci.key(d);
        }
        enum_key = enum_key.key(pci);
    }
    KeySpec::new(&format!("ControlSet{n:03}"))
        .key(control)
        .key(services)
        .key(enum_key)
}

/// The SYSTEM fixture of a variant.
pub fn system(variant: SystemVariant) -> HiveSpec {
    let (current, default, lkg, sets) = match variant {
        SystemVariant::Current2 => (2, 2, 1, 2),
        SystemVariant::ControlSet003 => (1, 1, 3, 3),
        _ => (1, 1, 1, 2),
    };
    let mut root = KeySpec::new("ROOT")
        .key(with(
            KeySpec::new("Select"),
            &[
                ("Current", dw(current)),
                ("Default", dw(default)),
                ("Failed", dw(0)),
                ("LastKnownGood", dw(lkg)),
            ],
        ))
        .key(with(
            KeySpec::new("Setup"),
            &[
                ("SystemSetupInProgress", dw(0)),
                ("SetupType", dw(0)),
                ("CmdLine", sz("")),
                ("OOBEInProgress", dw(0)),
            ],
        ))
        .key(with(
            KeySpec::new("MountedDevices"),
            &[
                ("\\DosDevices\\C:", bin("44495348000010000000000000")),
                (
                    "\\??\\Volume{6f1c2a40-0000-0000-0000-100000000000}",
                    bin("44495348000010000000000000"),
                ),
            ],
        ));
    for n in 1..=sets {
        root = root.key(control_set(variant, n));
    }
    HiveSpec {
        file_name: "\\REGISTRY\\MACHINE\\SYSTEM".into(),
        sequence: 1205,
        timestamp: FIXTURE_TIME,
        root,
    }
}

/// The SOFTWARE fixture: Windows version and an RDP Group Policy override
/// (UserAuthentication = 1, fDenyTSConnections = 0).
pub fn software() -> HiveSpec {
    let cv = with(
        KeySpec::new("CurrentVersion"),
        &[
            ("ProductName", sz("Windows Server 2022 Datacenter")),
            ("EditionID", sz("ServerDatacenter")),
            ("InstallationType", sz("Server")),
            ("CurrentBuild", sz("20348")),
            ("CurrentBuildNumber", sz("20348")),
            ("DisplayVersion", sz("21H2")),
            ("UBR", dw(2227)),
            ("SystemRoot", sz("C:\\Windows")),
        ],
    );
    let root = KeySpec::new("ROOT")
        .key(KeySpec::new("Microsoft").key(KeySpec::new("Windows NT").key(cv)))
        .key(KeySpec::new("Policies").key(KeySpec::new("Microsoft").key(
            KeySpec::new("Windows NT").key(with(
                KeySpec::new("Terminal Services"),
                &[
                    ("UserAuthentication", dw(1)),
                    ("fDenyTSConnections", dw(0)),
                    ("MaxIdleTime", dw(0)),
                ],
            )),
        )));
    HiveSpec {
        file_name: "\\REGISTRY\\MACHINE\\SOFTWARE".into(),
        sequence: 877,
        timestamp: FIXTURE_TIME,
        root,
    }
}

/// A transaction log as Windows leaves it beside a clean hive: a valid log
/// base block (the hive's header with file type 6: new format) and no
/// entries yet (zero padding to one page).
pub fn empty_log(hive: &[u8]) -> Vec<u8> {
    let mut log = vec![0u8; BASE_BLOCK_SIZE];
    log[..HEADER_SIZE].copy_from_slice(&hive[..HEADER_SIZE]);
    crate::bytes::put_u32(&mut log, OFF_FILE_TYPE, FILE_TYPE_LOG_NEW);
    let seq = crate::bytes::u32_at(hive, 0, base_block::OFF_SEQ1, "seq").unwrap_or(0);
    let bins = crate::bytes::u32_at(hive, 0, base_block::OFF_HIVE_BINS_SIZE, "bins").unwrap_or(0);
    base_block::set_clean(&mut log[..BASE_BLOCK_SIZE], seq, bins);
    log
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regf::build::build;

    #[test]
    fn fixtures_are_valid_and_small() {
        for v in SystemVariant::COMMITTED {
            let h = build(&system(v));
            crate::verify::full_check(&h).unwrap();
            assert!(h.len() < 160 * 1024, "{v:?}: {} bytes", h.len());
        }
        let sw = build(&software());
        crate::verify::full_check(&sw).unwrap();
        let log = empty_log(&build(&system(SystemVariant::Modern)));
        let bb = base_block::BaseBlock::parse(&log).unwrap();
        assert!(bb.checksum_valid() && bb.file_type == FILE_TYPE_LOG_NEW);
    }
}
