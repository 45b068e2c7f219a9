//! Providers' OpenAPI documents and the catalogue export from the command line
//! (docs/catalogue.md "OpenAPI documents", "Export for harvesting"): `psn gateway service
//! openapi`, `psn catalogue openapi` and `psn catalogue export`. Documents and exports are
//! written out byte for byte as the authority serves them.

use super::connect::Connect;
use anyhow::{bail, Context};
use clap::ValueEnum;
use psn_core::names::ServiceId;
use psn_gateway::GatewayDir;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The export's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ExportFormat {
    /// DCAT version 3 as JSON-LD, for national catalogues to harvest.
    #[default]
    Dcat,
    /// CSV, one row per listing, for spreadsheets.
    Csv,
}

/// Reads an OpenAPI document to upload. JSON only: a YAML file is refused here with the way to
/// convert it, rather than sent to be refused by the authority.
fn read_document(path: &Path) -> anyhow::Result<String> {
    let yaml = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    if yaml {
        bail!(
            "{} looks like YAML; the catalogue takes OpenAPI documents as JSON: convert it first, e.g. `yq -o=json {} > openapi.json`",
            path.display(),
            path.display()
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() > psn_api::MAX_OPENAPI_BYTES {
        bail!(
            "{} is {} bytes; the catalogue takes OpenAPI documents of at most 1 MiB",
            path.display(),
            bytes.len()
        );
    }
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", path.display()))
}

/// `psn gateway service openapi SERVICE --file F | --remove`.
pub async fn gateway_openapi(
    data_dir: &Path,
    service: &ServiceId,
    file: Option<PathBuf>,
    remove: bool,
) -> anyhow::Result<()> {
    let dir = GatewayDir::new(data_dir);
    match (file, remove) {
        (Some(file), false) => {
            let document = read_document(&file)?;
            let changed = psn_gateway::admin::put_openapi(&dir, service, document).await?;
            if let Some(info) = changed.openapi {
                println!(
                    "kept the OpenAPI document of {service}: {} bytes, sha256 {}",
                    info.bytes, info.sha256
                );
            }
            Ok(())
        }
        (None, true) => {
            psn_gateway::admin::remove_openapi(&dir, service).await?;
            println!("removed the OpenAPI document of {service}");
            Ok(())
        }
        _ => bail!("say --file openapi.json to upload, or --remove"),
    }
}

/// Writes `text` to `out`, or to standard output.
fn write_out(text: &str, out: Option<&Path>) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
            Ok(())
        }
    }
}

/// `psn catalogue openapi SERVICE [--out FILE]`.
pub async fn catalogue_openapi(
    connect: &Connect,
    service: &ServiceId,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let fetched = connect.client()?.openapi(service).await?;
    write_out(&fetched.text, out)
}

/// `psn catalogue export --format dcat|csv [--out FILE]`.
pub async fn catalogue_export(
    connect: &Connect,
    format: ExportFormat,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let client = connect.client()?;
    let fetched = match format {
        ExportFormat::Dcat => client.export_dcat().await?,
        ExportFormat::Csv => client.export_csv().await?,
    };
    write_out(&fetched.text, out)
}
