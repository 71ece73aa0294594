//! Hot reload: the config is read again (from the file it came from, or the environment for
//! the built-in default), validated by the same code as at startup, and swapped in
//! atomically. Requests in flight finish on the runtime they started with; live state —
//! health, breakers, key marks, limit windows, usage, runtime keys, the cache — carries over,
//! keyed by provider and key names. An invalid config leaves the old one serving and
//! reports every error. Triggers: `POST /admin/reload`, SIGHUP, and a change to the config
//! file (watched with `notify`, debounced).

use crate::config::{Config, ConfigErrors};
use crate::runtime::{Runtime, RuntimeError};
use crate::server::AppState;
use std::sync::Arc;

/// What a reload changed.
#[derive(Debug)]
pub struct Summary {
    pub source: String,
    pub providers: usize,
    pub routes: usize,
    pub keys: usize,
    /// Settings that only a restart applies (the listen address).
    pub needs_restart: Vec<String>,
}

/// Why a reload did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{0}")]
    Invalid(ConfigErrors),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Tls(#[from] crate::edge::tls::TlsError),
}

/// Reads the config again and swaps it in.
pub async fn reload(st: &AppState) -> Result<Summary, ReloadError> {
    let current = st.runtime.load_full();
    let source = current.config.source.clone();
    let config = if source == crate::config::BUILT_IN {
        crate::config::from_environment()
    } else {
        crate::config::load_file(std::path::Path::new(&source))
    };
    let count = |result| {
        current
            .live
            .metrics
            .reloads
            .get_or_create(&crate::metrics::ReloadLabels { result })
            .inc();
    };
    let config = config.map_err(|errs| {
        count("invalid");
        tracing::warn!(
            errors = errs.0.len(),
            "reload refused: the config has errors; the old config keeps serving"
        );
        for e in &errs.0 {
            tracing::warn!("{e}");
        }
        ReloadError::Invalid(errs)
    })?;
    let mut needs_restart = Vec::new();
    if config.listen != current.config.listen {
        needs_restart.push(format!(
            "listen: {} → {} (still listening on {})",
            current.config.listen, config.listen, current.config.listen
        ));
    }
    // Live state is opened once, at start: its settings need a restart to change.
    let c = &current.config;
    if config.store != c.store {
        needs_restart.push("store: the state store in use stays until a restart".to_owned());
    }
    if config.audit != c.audit {
        needs_restart.push("audit: the audit log in use stays until a restart".to_owned());
    }
    if config.server != c.server {
        needs_restart.push("server: the edge's limits in use stay until a restart".to_owned());
    }
    match (&st.tls, &config.tls) {
        (Some(_), Some(_)) | (None, None) => {}
        (None, Some(_)) => {
            needs_restart.push("server.tls: the edge serves plain HTTP until a restart".to_owned())
        }
        (Some(_), None) => {
            needs_restart.push("server.tls: the edge serves TLS until a restart".to_owned())
        }
    }
    if config.telemetry != c.telemetry {
        needs_restart.push("telemetry: the trace exporter in use stays until a restart".to_owned());
    }
    if config.encryption_key != c.encryption_key {
        needs_restart
            .push("store.encryption_key: the sealer in use stays until a restart".to_owned());
    }
    for w in crate::config::inactive_settings(&config) {
        tracing::warn!("{w}");
    }
    let summary = summarize(&config, needs_restart);
    let runtime = Runtime::build(config, &current.live)?;
    // The certificate files are read again (a renewed certificate), after everything else
    // that may fail, so a refused reload changes nothing.
    if let (Some(served), Some(files)) = (&st.tls, &runtime.config.tls) {
        served.reload(files).inspect_err(|_| count("invalid"))?;
    }
    if let Err(e) = crate::admin::load_upstream_keys(&runtime).await {
        tracing::warn!(error = %e, "reload: runtime upstream keys not read from the store");
    }
    st.runtime.store(Arc::new(runtime));
    count("ok");
    tracing::info!(
        source = %summary.source,
        providers = summary.providers,
        routes = summary.routes,
        "config reloaded"
    );
    for r in &summary.needs_restart {
        tracing::warn!("{r}: needs a restart");
    }
    Ok(summary)
}

fn summarize(c: &Config, needs_restart: Vec<String>) -> Summary {
    Summary {
        source: c.source.clone(),
        providers: c.providers.len(),
        routes: c.routes.len(),
        keys: c.keys.len(),
        needs_restart,
    }
}

/// Reloads on every SIGHUP, until aborted.
#[cfg(unix)]
pub fn on_sighup(st: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the config");
            let _ = reload(&st).await;
        }
    })
}

/// How long the file must stay unchanged before a change is reloaded (editors write in
/// several steps).
const DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(300);

/// Reloads when the config file changes, until aborted. The file's folder is watched (an
/// editor may replace the file rather than write to it). `None` for the built-in default,
/// with `watch_config = false`, or when the platform cannot watch.
pub fn on_file_change(st: AppState) -> Option<tokio::task::JoinHandle<()>> {
    use notify::Watcher;
    let (source, watch) = {
        let rt = st.runtime.load();
        (rt.config.source.clone(), rt.config.watch_config)
    };
    if source == crate::config::BUILT_IN || !watch || !std::path::Path::new(&source).is_file() {
        return None;
    }
    let file = std::path::PathBuf::from(&source);
    let name = file.file_name()?.to_owned();
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let touches_file = event.is_ok_and(|e| {
            !e.kind.is_access() && e.paths.iter().any(|p| p.file_name() == Some(&name))
        });
        if touches_file {
            let _ = tx.send(());
        }
    })
    .ok()?;
    if let Err(e) = watcher.watch(&dir, notify::RecursiveMode::NonRecursive) {
        tracing::warn!(error = %e, "the config file is not watched; reload with SIGHUP or POST /admin/reload");
        return None;
    }
    Some(tokio::spawn(async move {
        // The watcher lives as long as the task.
        let _watcher = watcher;
        while rx.recv().await.is_some() {
            // Wait until the file has been quiet for a moment.
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
            tracing::info!("the config file changed: reloading");
            let _ = reload(&st).await;
        }
    }))
}
