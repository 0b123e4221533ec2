//! Layering: embedded defaults → TOML file → environment → command-line overrides.

use std::fmt;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};

use crate::Config;

/// Prefix of the environment variables read as configuration.
pub const ENV_PREFIX: &str = "SWITCHBOARD_";

/// Where configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The TOML file, if any.
    pub file: Option<PathBuf>,
    /// Environment variables to read as `SWITCHBOARD_<SECTION>__<KEY>` (pass `std::env::vars()`;
    /// tests pass their own list instead of touching the process environment).
    pub env: Vec<(String, String)>,
    /// Command-line overrides as `section.key = value` pairs, the value in TOML syntax (a bare
    /// word that is not valid TOML is taken as a string).
    pub overrides: Vec<(String, String)>,
}

/// A configuration problem, naming the key and where its value came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// Dotted key path, e.g. `mqtt.listen`, when the problem is about one key.
    pub key: Option<String>,
    /// Where the value came from (a file path, `environment variable X`, `--set`), when known.
    pub source_name: Option<String>,
    /// What is wrong and what to change.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.key, &self.source_name) {
            (Some(k), Some(s)) => write!(f, "{s}: `{k}`: {}", self.message),
            (Some(k), None) => write!(f, "`{k}`: {}", self.message),
            (None, Some(s)) => write!(f, "{s}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

impl ConfigError {
    /// A problem with one key.
    pub fn key(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: Some(key.into()),
            source_name: None,
            message: message.into(),
        }
    }
}

/// Loads the configuration from `sources` and validates it. Returns every problem found, not only
/// the first.
pub fn load(sources: &Sources) -> Result<Config, Vec<ConfigError>> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = &sources.file {
        if !path.is_file() {
            return Err(vec![ConfigError {
                key: None,
                source_name: Some(path.display().to_string()),
                message: "the config file does not exist or is not a regular file".to_owned(),
            }]);
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    let env: Vec<(String, String)> = sources
        .env
        .iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.contains("__"))
        .cloned()
        .collect();
    if !env.is_empty() {
        // figment's Env reads the process environment; feed it our explicit list instead.
        let mut table = toml::Table::new();
        for (k, v) in &env {
            let path: Vec<String> = k[ENV_PREFIX.len()..]
                .split("__")
                .map(|s| s.to_ascii_lowercase())
                .collect();
            insert_path(&mut table, &path, parse_value(v));
        }
        figment = figment.merge(Serialized::defaults(table).profile(figment::Profile::Default));
    }
    if !sources.overrides.is_empty() {
        let mut table = toml::Table::new();
        for (k, v) in &sources.overrides {
            let path: Vec<String> = k.split('.').map(str::to_owned).collect();
            insert_path(&mut table, &path, parse_value(v));
        }
        figment = figment.merge(Serialized::defaults(table));
    }
    let mut config: Config = figment.extract().map_err(|e| {
        e.into_iter()
            .map(|e| from_figment(e, sources))
            .collect::<Vec<_>>()
    })?;
    if config.auth.anonymous.is_none() {
        config.auth.anonymous = Some(sources.file.is_none());
    }
    crate::validate(&config)?;
    Ok(config)
}

fn parse_value(v: &str) -> toml::Value {
    // `key = <v>` parses any TOML value; anything else is a plain string.
    match format!("x = {v}").parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("x")
            .unwrap_or_else(|| toml::Value::String(v.to_owned())),
        Err(_) => toml::Value::String(v.to_owned()),
    }
}

fn insert_path(table: &mut toml::Table, path: &[String], value: toml::Value) {
    match path {
        [] => {}
        [last] => {
            table.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(t) = entry {
                insert_path(t, rest, value);
            }
        }
    }
}

fn from_figment(e: figment::Error, sources: &Sources) -> ConfigError {
    use figment::error::Kind;
    let mut path: Vec<String> = e.path.clone();
    let message = match &e.kind {
        Kind::UnknownField(field, expected) => {
            if path.last() != Some(field) {
                path.push(field.clone());
            }
            let expected = expected.join("`, `");
            format!("unknown key; expected one of `{expected}`")
        }
        Kind::MissingField(field) => {
            if path.last().map(String::as_str) != Some(&**field) {
                path.push(field.to_string());
            }
            "this key is required".to_owned()
        }
        Kind::InvalidType(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::InvalidValue(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::UnknownVariant(found, expected) => {
            format!(
                "unknown value `{found}`; expected one of `{}`",
                expected.join("`, `")
            )
        }
        other => other.to_string(),
    };
    let source_name = match e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
        Some(figment::Source::File(p)) => Some(p.display().to_string()),
        _ => {
            let key = path.join(".");
            let env_name = format!(
                "{ENV_PREFIX}{}",
                key.to_ascii_uppercase().replace('.', "__")
            );
            if sources.env.iter().any(|(k, _)| *k == env_name) {
                Some(format!("environment variable {env_name}"))
            } else if sources.overrides.iter().any(|(k, _)| *k == key) {
                Some("command line".to_owned())
            } else {
                sources.file.as_ref().map(|p| p.display().to_string())
            }
        }
    };
    ConfigError {
        key: (!path.is_empty()).then(|| path.join(".")),
        source_name,
        message,
    }
}
