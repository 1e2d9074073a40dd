//! `bak2rds serve`: run the OSS emulator until SIGINT/SIGTERM.
//!
//! Prints one JSON line on stdout with everything a client needs (endpoints of OSS, RDS and the
//! credential services, region, bucket, key pair, role ARNs), flushed at once so a harness can read it and connect; logs go to stderr.

use std::net::SocketAddr;

use anyhow::Context as _;

use crate::cli::Status;
use crate::cli::args::ServeArgs;
use crate::cli::printer::Printer;
use bak2rds_emulator::{Emulator, EmulatorConfig};

/// Runs `bak2rds serve`.
pub fn run(args: ServeArgs, printer: &Printer) -> anyhow::Result<Status> {
    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    runtime.block_on(serve(args, printer))
}

async fn serve(args: ServeArgs, printer: &Printer) -> anyhow::Result<Status> {
    let listen: SocketAddr = args.listen.parse().with_context(|| {
        format!(
            "--listen {:?}: use IP:PORT, e.g. 127.0.0.1:9000",
            args.listen
        )
    })?;
    if !listen.ip().is_loopback() {
        // The connection line carries the key pair, and the emulator speaks plain HTTP.
        printer.warn(format!(
            "listening on {listen}, which other machines can reach: requests and the emulator's \
             key pair travel unencrypted; use --listen 127.0.0.1:PORT unless that is intended"
        ));
    }
    let config = match &args.config {
        Some(path) => EmulatorConfig::from_file(path)
            .with_context(|| format!("read the emulator configuration {}", path.display()))?,
        None => EmulatorConfig::default(),
    };
    let mut config = config;
    if let Some(link) = &args.link {
        config.link = Some(parse_link(link)?);
    }
    let mut builder = Emulator::builder().config(config);
    if let Some(ttl) = &args.sts_token_ttl {
        builder = builder.sts_token_ttl(parse_ttl(ttl)?);
    }
    let builder = builder
        .fast_etag(args.fast_etag)
        .trust_content_md5(args.trust_content_md5)
        .listen(listen);
    let builder = match &args.data {
        _ if args.discard_bodies => builder.discard_bodies(),
        Some(dir) => builder.data_dir(dir),
        None => builder.temp_dir(),
    };
    let handle = builder.start().await.context("start the emulator")?;
    // Listen for signals before announcing the address: a harness that reads the line and
    // stops the server at once must get a graceful stop (temporary data folder removed).
    let stop = StopSignals::listen()?;
    printer
        .json_line(&handle.connection_info())
        .context("write the connection line")?;
    std::io::Write::flush(&mut std::io::stdout()).context("flush stdout")?;
    printer.note(format!(
        "bak2rds emulator: OSS on {} (bucket {}); stop with Ctrl-C",
        handle.oss_endpoint(),
        handle.bucket()
    ));
    stop.wait().await;
    handle.shutdown().await.context("stop the emulator")?;
    Ok(Status::Done)
}

/// `rtt=250ms,rate=1Gbit/s,window=1MiB` (`serve --link`, `bench --link`): the emulator's link
/// model. All three are required: a link model with a guessed part is a wrong rehearsal.
pub(crate) fn parse_link(text: &str) -> anyhow::Result<bak2rds_emulator::link::LinkConfig> {
    let (mut rtt, mut rate, mut window) = (None, None, None);
    for field in text.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let Some((name, value)) = field.split_once('=') else {
            anyhow::bail!("--link {text:?}: {field:?} is not NAME=VALUE");
        };
        match name.trim() {
            "rtt" => rtt = Some(parse_milliseconds(value.trim())?),
            "rate" => rate = Some(crate::units::parse_rate(value.trim()).context("--link rate")?),
            "window" => {
                window = Some(crate::units::parse_size(value.trim()).context("--link window")?)
            }
            other => {
                anyhow::bail!("--link: unknown field {other:?} (rtt, rate and window are known)")
            }
        }
    }
    let (Some(rtt_ms), Some(rate_bytes_per_sec), Some(window_bytes)) = (rtt, rate, window) else {
        anyhow::bail!(
            "--link {text:?} needs rtt, rate and window, e.g. \
             --link rtt=250ms,rate=1Gbit/s,window=1MiB"
        );
    };
    let link = bak2rds_emulator::link::LinkConfig {
        rtt_ms,
        rate_bytes_per_sec,
        window_bytes,
    };
    link.validate()?;
    Ok(link)
}

/// `250ms`, `0.25s` or `1s` as whole milliseconds.
fn parse_milliseconds(text: &str) -> anyhow::Result<u64> {
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1.0)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1000.0)
    } else {
        anyhow::bail!("--link rtt {text:?}: give a duration such as 250ms or 0.25s");
    };
    let value: f64 = number
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .with_context(|| format!("--link rtt {text:?}: give a duration such as 250ms or 0.25s"))?;
    Ok((value * scale).round() as u64)
}

/// `--sts-token-ttl`: `90`, `90s`, `5m` or `1h`, whole seconds, at least one.
fn parse_ttl(text: &str) -> anyhow::Result<std::time::Duration> {
    crate::units::parse_duration(text).context("--sts-token-ttl")
}

/// SIGINT and SIGTERM, registered from creation on.
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt()).context("listen for SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("listen for SIGTERM")?,
        })
    }

    /// Waits for either signal.
    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_take_seconds_minutes_or_hours() {
        let secs = |text: &str| parse_ttl(text).ok().map(|d| d.as_secs());
        assert_eq!(secs("10s"), Some(10));
        assert_eq!(secs("90"), Some(90));
        assert_eq!(secs("5m"), Some(300));
        assert_eq!(secs("1h"), Some(3600));
        for bad in ["0s", "", "ten", "1.5s", "-1s"] {
            assert_eq!(secs(bad), None, "{bad}");
        }
    }
}
