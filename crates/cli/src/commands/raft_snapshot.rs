//! `operator raft snapshot save|restore|inspect`: streamed transfers with progress on stderr,
//! and an offline inspection that verifies the archive's checksums.

use std::io::{BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tokio::io::AsyncReadExt as _;
use tresor_snapshot::{ArchiveContents, PrefixStats, read_archive};

use super::{subcommand, unknown};
use crate::args::b;
use crate::client::{Client, transfer_error};
use crate::ctx::{Ctx, want_args};
use crate::error::CliError;
use crate::output;
use crate::settings::{Format, Settings};

const USAGE: &str = "Usage: vault operator raft snapshot <subcommand> [options] FILE

Subcommands:
    save FILE                  Save a snapshot of the cluster's data to FILE
    restore [-force] FILE      Restore the cluster's data from the snapshot in FILE
    inspect FILE               Verify a snapshot file and summarize it (offline)
";

const SAVE_USAGE: &str = "Usage: vault operator raft snapshot save [options] FILE

  Streams a snapshot of the cluster's data from the active node into FILE.
";

const RESTORE_USAGE: &str = "Usage: vault operator raft snapshot restore [options] FILE

  Replaces the cluster's data with the snapshot in FILE.

  -force    Restore even if the snapshot's keys do not match this cluster's (a snapshot
            of another cluster); the node seals until unsealed with the snapshot's keys.
";

const INSPECT_USAGE: &str = "Usage: vault operator raft snapshot inspect [options] FILE

  Verifies FILE's checksums and prints its metadata and key counts by prefix.
  Needs no server. -format=table|json.
";

/// How often progress is printed during a transfer.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// Size of the pieces read from the file for an upload.
const UPLOAD_PIECE: usize = 256 * 1024;

pub(crate) async fn run(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let Some((sub, rest)) = subcommand(ctx, args, USAGE)? else {
        return Ok(0);
    };
    match sub {
        "save" => save(ctx, rest).await,
        "restore" => restore(ctx, rest).await,
        "inspect" => inspect(ctx, rest),
        other => Err(unknown(ctx, "operator raft snapshot", other, USAGE)),
    }
}

/// Bytes for humans (binary units).
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> CliError {
    move |source| CliError::Io {
        context: what,
        source,
    }
}

fn transport(method: &str, url: &str, context: &str) -> impl FnOnce(reqwest::Error) -> CliError {
    let (method, url, context) = (method.to_owned(), url.to_owned(), context.to_owned());
    move |source| CliError::Transport {
        context,
        method,
        url,
        source,
    }
}

/// A file beside `target` that becomes it once complete (removed if dropped before).
struct Partial {
    path: PathBuf,
    done: bool,
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn verify_file(path: &Path, stats: Option<&mut PrefixStats>) -> Result<ArchiveContents, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut sink = std::io::sink();
    let res = match stats {
        Some(s) => read_archive(BufReader::new(file), &mut sink, |k, n| s.add(k, n)),
        None => read_archive(BufReader::new(file), &mut sink, |_, _| {}),
    };
    res.map_err(|e| e.to_string())
}

async fn save(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let Some(p) = ctx.parse(SAVE_USAGE, &[], args)? else {
        return Ok(0);
    };
    want_args(&p, 1, 1, SAVE_USAGE)?;
    let target = PathBuf::from(&p.positionals[0]);
    let (_, client) = ctx.connect(&p)?;
    let context = "Error taking the snapshot";
    let url = client.url("sys/storage/raft/snapshot");
    let mut resp = client
        .transfer(Method::GET, &url)
        .send()
        .await
        .map_err(transport("GET", &url, context))?;
    let status = resp.status().as_u16();
    if status >= 400 {
        let text = resp.text().await.unwrap_or_default();
        return Err(transfer_error("GET", url, status, &text).context(context));
    }
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "snapshot".into());
    let mut partial = Partial {
        path: dir.join(format!(".{name}.partial-{}", std::process::id())),
        done: false,
    };
    let mut file = std::fs::File::create(&partial.path)
        .map_err(io_err(format!("Error creating {}", partial.path.display())))?;
    let started = Instant::now();
    let mut last = Instant::now();
    let mut written: u64 = 0;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(transport("GET", &url, context))?
    {
        file.write_all(&chunk)
            .map_err(io_err(format!("Error writing {}", partial.path.display())))?;
        written += chunk.len() as u64;
        if last.elapsed() >= PROGRESS_EVERY {
            last = Instant::now();
            ctx.eprint(&format!("Saved {} so far\n", human_bytes(written)));
        }
    }
    file.sync_all()
        .map_err(io_err(format!("Error writing {}", partial.path.display())))?;
    drop(file);
    // A transfer the server aborted ends early: never keep a file that is not a whole archive.
    if let Err(e) = verify_file(&partial.path, None) {
        return Err(CliError::Failed(format!(
            "{context}: the received snapshot is incomplete or damaged: {e}"
        )));
    }
    std::fs::rename(&partial.path, &target)
        .map_err(io_err(format!("Error writing {}", target.display())))?;
    partial.done = true;
    ctx.eprint(&format!(
        "Snapshot saved to {} ({} in {:.1}s)\n",
        target.display(),
        human_bytes(written),
        started.elapsed().as_secs_f64()
    ));
    Ok(0)
}

/// The request body: `path` read piece by piece, counting what was read into `sent`.
async fn upload_body(path: &Path, sent: Arc<AtomicU64>) -> Result<reqwest::Body, CliError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(io_err(format!("Error opening {}", path.display())))?;
    let stream = futures::stream::unfold((file, sent), |(mut file, sent)| async move {
        let mut buf = vec![0u8; UPLOAD_PIECE];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                sent.fetch_add(n as u64, Ordering::Relaxed);
                Some((Ok::<_, std::io::Error>(buf), (file, sent)))
            }
            Err(e) => Some((Err(e), (file, sent))),
        }
    });
    Ok(reqwest::Body::wrap_stream(stream))
}

async fn restore(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let Some(p) = ctx.parse(RESTORE_USAGE, &[b("force")], args)? else {
        return Ok(0);
    };
    want_args(&p, 1, 1, RESTORE_USAGE)?;
    let source = PathBuf::from(&p.positionals[0]);
    let total = std::fs::metadata(&source)
        .map_err(io_err(format!("Error opening {}", source.display())))?
        .len();
    let (_, client) = ctx.connect(&p)?;
    let path = if p.bool("force") {
        "sys/storage/raft/snapshot-force"
    } else {
        "sys/storage/raft/snapshot"
    };
    let context = "Error installing the snapshot";
    let mut url = client.url(path);
    // A standby answers 307 to the active node: follow it (a few times at most).
    for _ in 0..3 {
        let (status, location, text) = send_upload(ctx, &client, &url, &source, total).await?;
        match (status, location) {
            (307 | 308, Some(next)) => url = next,
            (s, _) if s >= 400 => {
                return Err(transfer_error("POST", url, s, &text).context(context));
            }
            _ => {
                ctx.eprint(&format!("Snapshot restored ({})\n", human_bytes(total)));
                return Ok(0);
            }
        }
    }
    Err(CliError::Failed(format!("{context}: too many redirects")))
}

/// Uploads `source` to `url`, printing progress; returns the status, a redirect's target
/// and the body text.
async fn send_upload(
    ctx: &mut Ctx<'_>,
    client: &Client,
    url: &str,
    source: &Path,
    total: u64,
) -> Result<(u16, Option<String>, String), CliError> {
    let context = "Error installing the snapshot";
    let sent = Arc::new(AtomicU64::new(0));
    let body = upload_body(source, sent.clone()).await?;
    let send = client
        .transfer(Method::POST, url)
        .header("Content-Type", "application/octet-stream")
        .body(body)
        .send();
    tokio::pin!(send);
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    tick.tick().await;
    let mut shown = 0;
    let resp = loop {
        tokio::select! {
            r = &mut send => break r.map_err(transport("POST", url, context))?,
            _ = tick.tick() => {
                let n = sent.load(Ordering::Relaxed);
                if n != shown {
                    shown = n;
                    let note = if n >= total { " (the server is applying it)" } else { "" };
                    ctx.eprint(&format!(
                        "Uploaded {} of {}{note}\n",
                        human_bytes(n),
                        human_bytes(total)
                    ));
                }
            }
        }
    };
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = resp.text().await.unwrap_or_default();
    Ok((status, location, text))
}

fn inspect(ctx: &mut Ctx<'_>, args: &[String]) -> Result<i32, CliError> {
    let Some(p) = ctx.parse(INSPECT_USAGE, &[], args)? else {
        return Ok(0);
    };
    want_args(&p, 1, 1, INSPECT_USAGE)?;
    let st = Settings::resolve(&p, ctx.env)?;
    let path = PathBuf::from(&p.positionals[0]);
    let mut stats = PrefixStats::default();
    let contents = verify_file(&path, Some(&mut stats)).map_err(|e| {
        CliError::Failed(format!("Error inspecting snapshot {}: {e}", path.display()))
    })?;
    let m = &contents.meta;
    let total_size: u64 = stats.by_prefix.values().map(|s| s.size).sum();
    if st.format == Format::Json {
        let keys: Vec<_> = stats
            .by_prefix
            .iter()
            .map(|(k, s)| json!({"name": k, "count": s.count, "size": s.size}))
            .collect();
        let doc = json!({
            "info": {
                "ID": m.id,
                "Size": m.size,
                "Index": m.index,
                "Term": m.term,
                "Version": m.version,
            },
            "keys": keys,
            "total_count": contents.records,
            "total_size": total_size,
        });
        ctx.print(&output::json(&doc));
        return Ok(0);
    }
    ctx.print(&output::table(
        Some(&["ID", &m.id]),
        &[
            vec!["Size".into(), m.size.to_string()],
            vec!["Index".into(), m.index.to_string()],
            vec!["Term".into(), m.term.to_string()],
            vec!["Version".into(), m.version.to_string()],
        ],
    ));
    ctx.print("\n");
    let mut rows: Vec<Vec<String>> = stats
        .by_prefix
        .iter()
        .map(|(k, s)| vec![k.clone(), s.count.to_string(), s.size.to_string()])
        .collect();
    rows.push(vec![
        "Total".into(),
        contents.records.to_string(),
        total_size.to_string(),
    ]);
    ctx.print(&output::table(Some(&["Key Name", "Count", "Size"]), &rows));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_for_humans() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
