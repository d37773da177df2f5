//! `companion init`: finds the local Syncthing (config.xml, or the
//! `--syncthing-*` flags), checks that it answers, and writes how to reach
//! it into the companion's config file.

use crate::config::Settings;
use crate::syncthing::{SearchEnv, discovery};

pub async fn run(mut settings: Settings, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let endpoint = discovery::resolve(&settings.syncthing, &SearchEnv::from_process())?;
    // Remember where config.xml was found, so later runs need no flags; the
    // key itself is read from config.xml each time unless it was given.
    let found_home = endpoint.config.as_ref().and_then(|c| c.path.parent().map(|p| p.to_path_buf()));
    settings.file.syncthing.home = settings.syncthing.home.clone().or(found_home);
    settings.file.syncthing.url = settings.syncthing.url.clone();
    settings.file.syncthing.api_key = settings.syncthing.api_key.clone();
    let client = crate::syncthing::Client::new(&endpoint.url, &endpoint.api_key)?;
    match client.system_status().await {
        Ok(status) => {
            let folders = client.config_folders().await.map(|f| f.len()).unwrap_or(0);
            writeln!(out, "Found Syncthing at {} (device {}, {folders} folder(s)).", endpoint.url, status.my_id)?;
        }
        Err(e) => writeln!(
            out,
            "Warning: Syncthing at {} does not answer ({e}); start it before `companion run`.",
            endpoint.url
        )?,
    }
    settings.save_file()?;
    // 0700 from the start: it will hold the manifest and the dashboard's secret.
    crate::state_dir::prepare(&settings.state_dir)?;
    writeln!(out, "Wrote {}; state goes to {}.", settings.config_path.display(), settings.state_dir.display())?;
    if settings.cloud().is_err() {
        writeln!(out, "Next: companion login --cloud URL --token TOKEN")?;
    }
    Ok(())
}
