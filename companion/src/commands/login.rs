//! `companion login --cloud URL --token TOKEN`: checks the token with
//! `GET /api/me`, then saves URL and token in the config file (mode 0600),
//! with the `--cloud-ca` file it trusted (as an absolute path) when one was given.

use crate::cloud_client::api::CloudClient;
use crate::config::Settings;

use super::cloud_error;

pub async fn run(mut settings: Settings, url: &str, token: &str, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let url = url.trim().trim_end_matches('/');
    let token = token.trim();
    let ca = settings.cloud.ca.as_deref().map(std::path::absolute).transpose()?;
    let client = CloudClient::with_ca(url, token, ca.as_deref())?;
    let me = client.me().await.map_err(cloud_error)?;
    settings.file.cloud.url = Some(url.to_owned());
    settings.file.cloud.token = Some(token.to_owned());
    settings.file.cloud.ca = ca;
    settings.save_file()?;
    writeln!(out, "Logged in to {url} as {} (user id {}).", me.name, me.user_id)?;
    writeln!(out, "Saved in {}.", settings.config_path.display())?;
    Ok(())
}
