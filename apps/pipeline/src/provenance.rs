//! Provenance records: what each artifact was made from, so that no stale or
//! half-written artifact is ever used or reported.
//!
//! After a stage has written an artifact completely it writes
//! `<stem>.provenance.json` (atomically, last) holding a SHA-256 of the
//! artifact's files, the config entries it was made from and the content
//! hashes of its input artifacts. Before a stage starts it removes the record
//! of what it is about to rewrite, so an interrupted or failed stage leaves an
//! artifact without a record, which nothing uses. An artifact is **fresh**
//! when its record exists, its files still hash to the recorded value, the
//! config entries are unchanged and every input is itself fresh with the
//! recorded hash.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::artifacts::{Artifact, Artifacts};
use crate::common::{hash_file, hex, write_json};
use crate::config::ExperimentConfig;

const FORMAT: &str = "privatesnn-provenance";
const VERSION: u32 = 1;

/// The record written next to an artifact.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Provenance {
    /// Always `privatesnn-provenance`.
    pub format: String,
    /// Format version.
    pub version: u32,
    /// The artifact (`ann.bpk`, `synthetic/`, ...).
    pub artifact: String,
    /// The stage command that made it.
    pub made_by: String,
    /// SHA-256 over its files' names and bytes.
    pub content: String,
    /// The config entries it was made from.
    pub config: BTreeMap<String, Value>,
    /// Content hash of each input artifact, by name.
    pub inputs: BTreeMap<String, String>,
    /// The device it was made on (informational).
    pub device: String,
}

/// Where an artifact stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Neither its files nor a record exist.
    Missing,
    /// It exists but must not be used; the reason says why.
    Stale(String),
    /// Up to date; its content hash.
    Fresh(String),
}

/// SHA-256 over the files of `a` (folders: every file inside, sorted by name).
pub fn content_hash(art: &Artifacts, a: Artifact) -> Result<String> {
    let mut hasher = Sha256::new();
    for path in art.files(a) {
        hash_path(&mut hasher, art.out(), &path)?;
    }
    Ok(hex(&hasher.finalize()))
}

fn hash_path(hasher: &mut Sha256, root: &Path, path: &Path) -> Result<()> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    hasher.update(rel.to_string_lossy().as_bytes());
    hasher.update([0]);
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("reading {}", path.display()))?;
        entries.sort();
        for entry in entries {
            hash_path(hasher, root, &entry)?;
        }
        Ok(())
    } else {
        hash_file(hasher, path)
    }
}

fn read_record(path: &Path) -> Option<Provenance> {
    let text = std::fs::read_to_string(path).ok()?;
    let record: Provenance = serde_json::from_str(&text).ok()?;
    (record.format == FORMAT && record.version == VERSION).then_some(record)
}

/// Where `a` stands for the config `exp`.
pub fn state(art: &Artifacts, exp: &ExperimentConfig, a: Artifact) -> Result<State> {
    let name = art.name(a);
    let record_path = art.provenance(a);
    let files = art.files(a);
    let present: Vec<bool> = files.iter().map(|f| f.exists()).collect();
    if !record_path.exists() {
        if present.iter().any(|&p| p) {
            return Ok(State::Stale(format!(
                "{name} has no provenance record ({}): it was left by an interrupted or \
                 failed `{}`, or copied from elsewhere",
                record_path.display(),
                a.made_by()
            )));
        }
        return Ok(State::Missing);
    }
    let Some(record) = read_record(&record_path) else {
        return Ok(State::Stale(format!(
            "its provenance record {} is unreadable",
            record_path.display()
        )));
    };
    if let Some(missing) = files.iter().zip(&present).find(|(_, p)| !**p) {
        return Ok(State::Stale(format!("{} is missing", missing.0.display())));
    }
    if content_hash(art, a)? != record.content {
        return Ok(State::Stale(format!(
            "{name} was changed or replaced after `{}` made it",
            record.made_by
        )));
    }
    // An imported ANN depends on the sections its record names (`import-ann`
    // records `[model]` and `[data]`, not `[train]`).
    let imported = record.made_by.starts_with("import-ann");
    let changed: Vec<String> = a
        .config_values(exp)?
        .into_iter()
        .filter(|(k, _)| !imported || record.config.contains_key(k))
        .filter(|(k, v)| record.config.get(k) != Some(v))
        .map(|(k, _)| format!("[{k}]"))
        .collect();
    if !changed.is_empty() {
        return Ok(State::Stale(format!(
            "the config's {} changed since {name} was made",
            changed.join(", ")
        )));
    }
    let inputs = art.inputs(a);
    for input in &inputs {
        let iname = art.name(*input);
        match state(art, exp, *input)? {
            State::Fresh(hash) => {
                if record.inputs.get(&iname) != Some(&hash) {
                    return Ok(State::Stale(format!(
                        "{iname} changed since {name} was made from it"
                    )));
                }
            }
            State::Missing => {
                return Ok(State::Stale(format!(
                    "{name} was made from {iname}, which is gone"
                )));
            }
            State::Stale(why) => {
                return Ok(State::Stale(format!(
                    "its input {iname} is out of date ({why})"
                )));
            }
        }
    }
    if let Some(gone) = record
        .inputs
        .keys()
        .find(|k| !inputs.iter().any(|i| &art.name(*i) == *k))
    {
        return Ok(State::Stale(format!(
            "{name} was made from {gone}, which is gone"
        )));
    }
    Ok(State::Fresh(record.content))
}

/// The content hash of `a` if it is fresh; otherwise an error that says why
/// and which command remakes it.
pub fn require(art: &Artifacts, exp: &ExperimentConfig, a: Artifact) -> Result<String> {
    let path = art.path(a);
    match state(art, exp, a)? {
        State::Fresh(hash) => Ok(hash),
        State::Missing => bail!(
            "{} not found; run `pipeline {}` first",
            path.display(),
            a.made_by()
        ),
        State::Stale(why) => bail!(
            "{} is out of date: {why}; run `pipeline {}` again (or the whole pipeline, \
             which remakes what is out of date)",
            path.display(),
            made_by(art, a)
                .filter(|m| m.starts_with("import-ann"))
                .unwrap_or_else(|| a.made_by())
        ),
    }
}

/// Forget `a`'s record before rewriting it: until a new record is written,
/// nothing uses the artifact.
pub fn invalidate(art: &Artifacts, a: Artifact) -> Result<()> {
    let path = art.provenance(a);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Remove `a`'s files and record (a failed stage leaves nothing to misuse).
pub fn remove(art: &Artifacts, a: Artifact) -> Result<()> {
    invalidate(art, a)?;
    for path in art.files(a) {
        let result = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if let Err(e) = result
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(e).with_context(|| format!("removing {}", path.display()));
        }
    }
    Ok(())
}

/// The command that made `a`, as its record says (`None` without a readable record).
pub fn made_by(art: &Artifacts, a: Artifact) -> Option<String> {
    read_record(&art.provenance(a)).map(|r| r.made_by)
}

/// Record that `a` was just made from `exp` and its (fresh) inputs.
pub fn record(art: &Artifacts, exp: &ExperimentConfig, a: Artifact, device: &str) -> Result<()> {
    record_as(art, exp, a, device, &a.made_by(), a.config_keys())
}

/// [`record`] for an artifact made by another command than its stage
/// (`import-ann` for the ANN), from the config entries `keys` only.
pub fn record_as(
    art: &Artifacts,
    exp: &ExperimentConfig,
    a: Artifact,
    device: &str,
    made_by: &str,
    keys: &[&str],
) -> Result<()> {
    let mut inputs = BTreeMap::new();
    for input in art.inputs(a) {
        inputs.insert(art.name(input), require(art, exp, input)?);
    }
    let record = Provenance {
        format: FORMAT.into(),
        version: VERSION,
        artifact: art.name(a),
        made_by: made_by.to_string(),
        content: content_hash(art, a)?,
        config: a
            .config_values(exp)?
            .into_iter()
            .filter(|(k, _)| keys.contains(&k.as_str()))
            .collect(),
        inputs,
        device: device.to_string(),
    };
    write_json(&art.provenance(a), &record)
}
