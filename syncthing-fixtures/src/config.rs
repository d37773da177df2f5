//! Writing a node's config.xml before its first start.
//!
//! We edit the file that `syncthing generate` wrote instead of writing one
//! from scratch, and we build folders and peer devices from the
//! `<defaults>` templates of that same file. That way every setting we do
//! not care about keeps exactly the value this Syncthing version would give
//! it (maxConflicts, minDiskFree, ...), and the node never starts with
//! discovery, relays or NAT enabled, not even for a moment, which a
//! start-then-PATCH approach could not promise.
//!
//! The file is machine-written with a stable layout, so plain text edits
//! (find an element, replace its text or an attribute) are enough. An edit
//! that keeps the node on loopback fails loudly if its element is missing;
//! the few elements that only some versions have (see [`OPTIONAL_OPTIONS`])
//! are set where present and skipped where not.

use std::ops::Range;
use std::path::Path;

use crate::FixtureError;

/// What one node's config says about itself.
pub(crate) struct NodeSettings<'a> {
    pub name: &'a str,
    pub api_key: &'a str,
    pub gui_port: u16,
    pub sync_port: u16,
    /// `None` keeps Syncthing's default (5 s).
    pub progress_update_interval_s: Option<u32>,
    /// Node-wide receive limit in KiB/s; 0 = unlimited.
    pub max_recv_kibps: u32,
    /// `None` keeps Syncthing's default (60 s).
    pub reconnection_interval_s: Option<u32>,
}

/// Another node this node should know.
pub(crate) struct PeerEntry<'a> {
    pub name: &'a str,
    pub device_id: &'a str,
    /// `tcp://127.0.0.1:PORT` to dial, or `None` for "dynamic", which with
    /// discovery off means "never dial, only accept".
    pub address: Option<String>,
}

/// A folder as configured on this node.
pub(crate) struct FolderEntry<'a> {
    pub id: &'a str,
    pub path: &'a Path,
    pub folder_type: &'a str,
    pub fs_watcher_delay_s: u32,
    /// All devices sharing the folder, this node included (Syncthing lists
    /// the local device in each folder too).
    pub device_ids: &'a [String],
}

/// `<options>` elements that not every supported version writes: set them
/// where present, skip them where absent. `restartOnWakeup` was removed in
/// 1.21. Everything else we set exists from 1.19 to 2.x.
const OPTIONAL_OPTIONS: &[&str] = &["restartOnWakeup"];

/// The `syncthing generate` command for `home`. Only what every version
/// from 1.19 to 2.x accepts: the switches go through the environment, since
/// 2.x rejects `--no-default-folder` (it has no default folder) and renamed
/// `--skip-port-probing` to `--no-port-probing`; each version ignores the
/// variable it does not know.
fn generate_command(binary: &Path, home: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary);
    command
        .arg("generate")
        .arg("--home")
        .arg(home)
        .env("STNODEFAULTFOLDER", "1")
        .env("STNOPORTPROBING", "1")
        .env_remove("STCONFDIR")
        .env_remove("STDATADIR")
        .env_remove("STHOMEDIR");
    command
}

/// Runs `syncthing generate` in `home` and returns the new device ID.
pub(crate) async fn generate(binary: &Path, home: &Path) -> Result<String, FixtureError> {
    let output = generate_command(binary, home)
        .output()
        .await
        .map_err(FixtureError::io(format!("running {} generate", binary.display())))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(FixtureError::Command {
            command: format!("{} generate --home {}", binary.display(), home.display()),
            status: output.status.to_string(),
            output: format!("{stdout}{}", String::from_utf8_lossy(&output.stderr)),
        });
    }
    // 1.19 prints "Device ID: XXXXXXX-..." on stdout (1.29 logs it on stderr,
    // 2.x as "device=..."); the first <device> of config.xml is the same ID.
    if let Some(id) = stdout.lines().find_map(|l| l.trim().strip_prefix("Device ID:")).map(str::trim) {
        return Ok(id.to_string());
    }
    let path = home.join("config.xml");
    let xml = std::fs::read_to_string(&path).map_err(FixtureError::io(format!("reading {}", path.display())))?;
    first_device_id(&xml).ok_or_else(|| FixtureError::ConfigXml { path, detail: "no <device id=...> found".into() })
}

fn first_device_id(xml: &str) -> Option<String> {
    let start = find_open(xml, "device", 0)?;
    attr(&xml[start..], "id").filter(|id| !id.is_empty()).map(str::to_string)
}

/// Applies the fixture's settings to a generated config.xml.
pub(crate) fn edit_config(
    xml: &str,
    self_id: &str,
    node: &NodeSettings<'_>,
    peers: &[PeerEntry<'_>],
    folders: &[FolderEntry<'_>],
) -> Result<String, String> {
    let mut xml = xml.to_string();

    // Name the local device "A", "B", ... so logs and the GUI are readable.
    let self_dev = xml.find(&format!("<device id=\"{self_id}\"")).ok_or("local <device> element missing")?;
    set_attr(&mut xml, self_dev, "name", node.name)?;

    set_text(&mut xml, "gui", "address", &format!("127.0.0.1:{}", node.gui_port))?;
    set_text(&mut xml, "gui", "apikey", node.api_key)?;

    let listen = format!("tcp://127.0.0.1:{}", node.sync_port);
    let mut options: Vec<(&str, String)> = vec![
        // Loopback only: one TCP listener, no QUIC (so no STUN), nothing
        // announced or contacted outside this machine.
        ("listenAddress", listen),
        ("globalAnnounceEnabled", "false".into()),
        ("localAnnounceEnabled", "false".into()),
        ("relaysEnabled", "false".into()),
        ("natEnabled", "false".into()),
        ("announceLANAddresses", "false".into()),
        ("startBrowser", "false".into()),
        ("urAccepted", "-1".into()),
        ("autoUpgradeIntervalH", "0".into()),
        ("crashReportingEnabled", "false".into()),
        ("restartOnWakeup", "false".into()),
        // Loopback counts as LAN, and LAN traffic ignores rate limits unless
        // this is on; with limits at 0 it changes nothing.
        ("limitBandwidthInLan", "true".into()),
        ("maxRecvKbps", node.max_recv_kibps.to_string()),
    ];
    if let Some(s) = node.progress_update_interval_s {
        options.push(("progressUpdateIntervalS", s.to_string()));
    }
    if let Some(s) = node.reconnection_interval_s {
        options.push(("reconnectionIntervalS", s.to_string()));
    }
    for (tag, value) in &options {
        match set_text(&mut xml, "options", tag, value) {
            Err(_) if OPTIONAL_OPTIONS.contains(tag) && !has_child(&xml, "options", tag) => {}
            other => other?,
        }
    }

    // Templates come from the untouched <defaults> section.
    let defaults = element(&xml, "defaults", 0).ok_or("<defaults> section missing")?;
    let folder_tmpl = element(&xml, "folder", defaults.start)
        .filter(|r| r.end <= defaults.end)
        .ok_or("<defaults><folder> template missing")?;
    let device_tmpl = element(&xml, "device", folder_tmpl.end)
        .filter(|r| r.end <= defaults.end)
        .ok_or("<defaults><device> template missing")?;
    let folder_tmpl = xml[folder_tmpl].to_string();
    let device_tmpl = xml[device_tmpl].to_string();

    let mut new_elements = String::new();
    for folder in folders {
        new_elements.push_str(&folder_element(&folder_tmpl, folder)?);
        new_elements.push_str("\n    ");
    }
    for peer in peers {
        new_elements.push_str(&peer_element(&device_tmpl, peer)?);
        new_elements.push_str("\n    ");
    }
    // Top-level folders and devices go before <gui>; element order does not
    // matter to Syncthing's decoder, this just mirrors what it writes.
    let gui = find_open(&xml, "gui", 0).ok_or("<gui> element missing")?;
    xml.insert_str(gui, &new_elements);
    Ok(xml)
}

fn folder_element(template: &str, folder: &FolderEntry<'_>) -> Result<String, String> {
    let mut f = template.to_string();
    set_attr(&mut f, 0, "id", folder.id)?;
    set_attr(&mut f, 0, "label", folder.id)?;
    set_attr(&mut f, 0, "path", &folder.path.to_string_lossy())?;
    set_attr(&mut f, 0, "type", folder.folder_type)?;
    set_attr(&mut f, 0, "fsWatcherDelayS", &folder.fs_watcher_delay_s.to_string())?;
    // The template shares the folder with the local device only; replace
    // that entry with one per sharing device.
    let dev = element(&f, "device", 0).ok_or("<device> missing in the folder template")?;
    let devices: Vec<String> = folder
        .device_ids
        .iter()
        .map(|id| {
            format!(
                "<device id=\"{}\" introducedBy=\"\">\n                <encryptionPassword></encryptionPassword>\n            </device>",
                escape(id)
            )
        })
        .collect();
    f.replace_range(dev, &devices.join("\n            "));
    Ok(f)
}

fn peer_element(template: &str, peer: &PeerEntry<'_>) -> Result<String, String> {
    let mut d = template.to_string();
    set_attr(&mut d, 0, "id", peer.device_id)?;
    set_attr(&mut d, 0, "name", peer.name)?;
    // A fixed address instead of "dynamic", since discovery is off.
    if let Some(address) = &peer.address {
        let addr = element(&d, "address", 0).ok_or("<address> missing in the device template")?;
        d.replace_range(addr, &format!("<address>{}</address>", escape(address)));
    }
    Ok(d)
}

/// Byte range of the first `<tag ...>...</tag>` starting at or after `from`.
fn element(xml: &str, tag: &str, from: usize) -> Option<Range<usize>> {
    let start = find_open(xml, tag, from)?;
    let close = format!("</{tag}>");
    let end = xml[start..].find(&close)? + start + close.len();
    Some(start..end)
}

/// Offset of the first `<tag` (as a whole tag name) at or after `from`.
fn find_open(xml: &str, tag: &str, from: usize) -> Option<usize> {
    let pat = format!("<{tag}");
    let mut at = from;
    loop {
        let pos = xml.get(at..)?.find(&pat)? + at;
        if matches!(xml[pos + pat.len()..].chars().next(), Some(' ' | '>' | '/' | '\n')) {
            return Some(pos);
        }
        at = pos + 1;
    }
}

/// Replaces the text of `<tag>` inside the first `<section>` element.
fn set_text(xml: &mut String, section: &str, tag: &str, value: &str) -> Result<(), String> {
    let scope = element(xml, section, 0).ok_or_else(|| format!("<{section}> missing"))?;
    let missing = || format!("<{section}><{tag}> missing");
    let open = find_open(xml, tag, scope.start).filter(|&p| p < scope.end).ok_or_else(missing)?;
    let content_start = xml[open..].find('>').ok_or_else(missing)? + open + 1;
    let close = format!("</{tag}>");
    let content_end = xml[content_start..].find(&close).ok_or_else(missing)? + content_start;
    if content_end > scope.end {
        return Err(missing());
    }
    xml.replace_range(content_start..content_end, &escape(value));
    Ok(())
}

/// Whether the first `<section>` holds a `<tag>` element.
fn has_child(xml: &str, section: &str, tag: &str) -> bool {
    element(xml, section, 0).is_some_and(|scope| find_open(xml, tag, scope.start).is_some_and(|p| p < scope.end))
}

/// Sets `attr` on the element whose `<` is at `elem_start`, adding it if absent.
fn set_attr(xml: &mut String, elem_start: usize, attr_name: &str, value: &str) -> Result<(), String> {
    let tag_end = xml[elem_start..].find('>').ok_or("unterminated tag")? + elem_start;
    let pat = format!(" {attr_name}=\"");
    match xml[elem_start..tag_end].find(&pat) {
        Some(pos) => {
            let value_start = elem_start + pos + pat.len();
            let value_end = xml[value_start..tag_end].find('"').ok_or("unterminated attribute")? + value_start;
            xml.replace_range(value_start..value_end, &escape(value));
        }
        None => {
            let insert_at = if xml[..tag_end].ends_with('/') { tag_end - 1 } else { tag_end };
            xml.insert_str(insert_at, &format!("{pat}{}\"", escape(value)));
        }
    }
    Ok(())
}

/// Value of `attr` in the opening tag at the start of `element`.
fn attr<'x>(element: &'x str, attr_name: &str) -> Option<&'x str> {
    let tag = &element[..element.find('>')?];
    let pat = format!(" {attr_name}=\"");
    let start = tag.find(&pat)? + pat.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENERATED: &str = include_str!("../tests/data/generated-config.xml");
    /// What `STNODEFAULTFOLDER=1 syncthing generate` wrote on 1.29.5 (Debian
    /// trixie): config version 37, no `<restartOnWakeup>`.
    const GENERATED_1_29: &str = include_str!("../tests/data/generated-config-1.29.5.xml");
    const SELF_ID_1_29: &str = "AUU3KVA-3CEK2WB-FGZQOEE-SVJEKML-SIXDA72-7L2T4XG-LMCAPRM-IUNKWQY";
    const SELF_ID: &str = "HJL5Z42-IC4LMRW-ZX2S535-23G2XWN-GKORIK5-WMTFZF7-D6ZFZXC-NMKI5AW";
    const PEER_ID: &str = "SWVCG5K-AAAAAAA-BBBBBBB-CCCCCCC-DDDDDDD-EEEEEEE-FFFFFFF-HOBDPAW";
    const THIRD_ID: &str = "THIRDDD-AAAAAAA-BBBBBBB-CCCCCCC-DDDDDDD-EEEEEEE-FFFFFFF-HOBDPAW";

    /// A node with nothing optional set.
    fn plain_node() -> NodeSettings<'static> {
        NodeSettings {
            name: "A",
            api_key: "k",
            gui_port: 1,
            sync_port: 2,
            progress_update_interval_s: None,
            max_recv_kibps: 0,
            reconnection_interval_s: None,
        }
    }

    fn edited() -> String {
        let node = NodeSettings {
            name: "A",
            api_key: "key-a",
            gui_port: 1111,
            sync_port: 2222,
            progress_update_interval_s: Some(1),
            max_recv_kibps: 512,
            reconnection_interval_s: None,
        };
        let peers = [
            PeerEntry { name: "B", device_id: PEER_ID, address: Some("tcp://127.0.0.1:3333".into()) },
            PeerEntry { name: "C", device_id: THIRD_ID, address: None },
        ];
        let ids = [SELF_ID.to_string(), PEER_ID.to_string()];
        let folders = [FolderEntry {
            id: "proj",
            path: Path::new("/tmp/x&y/proj"),
            folder_type: "sendonly",
            fs_watcher_delay_s: 1,
            device_ids: &ids,
        }];
        edit_config(GENERATED, SELF_ID, &node, &peers, &folders).unwrap()
    }

    #[test]
    fn reads_first_device_id() {
        assert_eq!(first_device_id(GENERATED).as_deref(), Some(SELF_ID));
    }

    #[test]
    fn options_and_gui_are_set() {
        let xml = edited();
        for needle in [
            "<address>127.0.0.1:1111</address>",
            "<apikey>key-a</apikey>",
            "<listenAddress>tcp://127.0.0.1:2222</listenAddress>",
            "<globalAnnounceEnabled>false</globalAnnounceEnabled>",
            "<localAnnounceEnabled>false</localAnnounceEnabled>",
            "<relaysEnabled>false</relaysEnabled>",
            "<natEnabled>false</natEnabled>",
            "<urAccepted>-1</urAccepted>",
            "<autoUpgradeIntervalH>0</autoUpgradeIntervalH>",
            "<crashReportingEnabled>false</crashReportingEnabled>",
            "<startBrowser>false</startBrowser>",
            "<limitBandwidthInLan>true</limitBandwidthInLan>",
            "<progressUpdateIntervalS>1</progressUpdateIntervalS>",
            "<reconnectionIntervalS>60</reconnectionIntervalS>",
            &format!("<device id=\"{SELF_ID}\" name=\"A\""),
        ] {
            assert!(xml.contains(needle), "missing {needle} in\n{xml}");
        }
        // The options-level limit is set, the device templates stay at 0.
        let options = element(&xml, "options", 0).unwrap();
        assert!(xml[options].contains("<maxRecvKbps>512</maxRecvKbps>"));
    }

    #[test]
    fn folder_and_peer_come_from_templates() {
        let xml = edited();
        let folder = element(&xml, "folder", 0).unwrap();
        let folder = &xml[folder];
        assert!(folder.starts_with("<folder id=\"proj\" label=\"proj\" path=\"/tmp/x&amp;y/proj\" type=\"sendonly\""));
        assert!(folder.contains("fsWatcherDelayS=\"1\""));
        assert!(folder.contains(&format!("<device id=\"{SELF_ID}\"")));
        assert!(folder.contains(&format!("<device id=\"{PEER_ID}\"")));
        assert!(folder.contains("<maxConflicts>10</maxConflicts>"), "template settings kept");
        let peer = xml.find(&format!("<device id=\"{PEER_ID}\" compression")).unwrap();
        let peer = &xml[element(&xml, "device", peer).unwrap()];
        assert!(peer.contains("name=\"B\""));
        assert!(peer.contains("<address>tcp://127.0.0.1:3333</address>"));
        let third = xml.find(&format!("<device id=\"{THIRD_ID}\" compression")).unwrap();
        let third = &xml[element(&xml, "device", third).unwrap()];
        assert!(third.contains("name=\"C\"") && third.contains("<address>dynamic</address>"));
        // The defaults section itself is left alone.
        let defaults = &xml[element(&xml, "defaults", 0).unwrap()];
        assert!(defaults.contains("<folder id=\"\" label=\"\" path=\"~\""));
    }

    #[test]
    fn edits_a_1_29_config_without_restart_on_wakeup() {
        assert!(!GENERATED_1_29.contains("restartOnWakeup"));
        let node = plain_node();
        let ids = [SELF_ID_1_29.to_string()];
        let folders = [FolderEntry {
            id: "proj",
            path: Path::new("/tmp/proj"),
            folder_type: "sendreceive",
            fs_watcher_delay_s: 1,
            device_ids: &ids,
        }];
        let xml = edit_config(GENERATED_1_29, SELF_ID_1_29, &node, &[], &folders).unwrap();
        assert!(xml.contains("<natEnabled>false</natEnabled>") && xml.contains("<relaysEnabled>false</relaysEnabled>"));
        assert!(!xml.contains("restartOnWakeup"), "an absent optional element is not invented");
        // Where the element exists (1.19) it is still turned off.
        assert!(edited().contains("<restartOnWakeup>false</restartOnWakeup>"));
    }

    #[test]
    fn generate_passes_only_what_every_version_accepts() {
        let command = generate_command(Path::new("/usr/bin/syncthing"), Path::new("/h"));
        let command = command.as_std();
        let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(args, ["generate", "--home", "/h"], "2.x rejects --no-default-folder and --skip-port-probing");
        let envs: Vec<_> = command.get_envs().filter_map(|(k, v)| Some((k.to_str()?, v?.to_str()?))).collect();
        assert!(envs.contains(&("STNODEFAULTFOLDER", "1")) && envs.contains(&("STNOPORTPROBING", "1")), "{envs:?}");
    }

    #[test]
    fn missing_option_is_an_error() {
        let xml = GENERATED.replace("<natEnabled>true</natEnabled>", "");
        let node = plain_node();
        let err = edit_config(&xml, SELF_ID, &node, &[], &[]).unwrap_err();
        assert!(err.contains("natEnabled"), "{err}");
    }
}
