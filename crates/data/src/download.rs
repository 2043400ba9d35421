//! Checksummed downloads into a cache directory.
//!
//! A file is received whole, its SHA-256
//! is checked, and only then is it renamed into place: an interrupted or
//! corrupt download never leaves a file under the final name.
//!
//! The SHA-256 is taken over the file's *content*: for a gzip file, over the
//! decompressed bytes. The official Fashion-MNIST archives are published with
//! MD5 sums only and are re-compressed by some mirrors (Debian's package has
//! different `.gz` bytes but the same IDX content), so hashing the content is
//! what identifies the data set across mirrors.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::DataError;
use crate::idx::read_maybe_gzip;

/// One file of a remote data set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name, appended to a mirror's base URL and used in the cache.
    pub name: &'static str,
    /// Lower-case hex SHA-256 of the (decompressed) content.
    pub sha256: &'static str,
}

/// The four Fashion-MNIST files with the SHA-256 of their IDX content.
pub const FASHION_MNIST_FILES: [RemoteFile; 4] = [
    RemoteFile {
        name: "train-images-idx3-ubyte.gz",
        sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    },
    RemoteFile {
        name: "train-labels-idx1-ubyte.gz",
        sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    },
    RemoteFile {
        name: "t10k-images-idx3-ubyte.gz",
        sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    },
    RemoteFile {
        name: "t10k-labels-idx1-ubyte.gz",
        sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
];

/// Official Fashion-MNIST mirrors, tried in order.
pub const FASHION_MNIST_MIRRORS: [&str; 2] = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
];

/// The cache directory: `$PRIVATESNN_CACHE`, else `$XDG_CACHE_HOME/privatesnn`,
/// else `~/.cache/privatesnn`, else `.cache/privatesnn`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("PRIVATESNN_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("privatesnn");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".cache/privatesnn"),
        None => PathBuf::from(".cache/privatesnn"),
    }
}

/// Lower-case hex SHA-256 of the content of `path` (decompressed if gzip).
pub fn content_sha256(path: &Path) -> Result<String, DataError> {
    let bytes = read_maybe_gzip(path)?;
    Ok(hex(&Sha256::digest(&bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Largest download accepted (the biggest Fashion-MNIST file is 26 MB).
const MAX_DOWNLOAD: u64 = 1 << 30;

/// Download `url` to `dest`, verifying the content's SHA-256.
///
/// The body is received into memory, its (decompressed) content hashed, and
/// only a matching file is written, atomically (temporary sibling, fsync,
/// rename): nothing is left under `dest` unless the whole file arrived and matched.
pub fn download_verified(url: &str, dest: &Path, sha256: &str) -> Result<(), DataError> {
    let err = |reason: String| DataError::Download {
        url: url.to_string(),
        reason,
    };
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    }
    // Fail fast on unreachable hosts; no limit on the transfer itself.
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(std::time::Duration::from_secs(20)))
        .timeout_recv_response(Some(std::time::Duration::from_secs(60)))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let response = agent.get(url).call().map_err(|e| err(e.to_string()))?;
    let mut body = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(MAX_DOWNLOAD)
        .read_to_end(&mut body)
        .map_err(|e| err(format!("transfer failed: {e}")))?;
    let content = crate::idx::gunzip_if_gzip(body.clone(), dest)?;
    let actual = hex(&Sha256::digest(&content));
    if actual != sha256 {
        return Err(err(format!(
            "SHA-256 mismatch: expected {sha256}, got {actual}"
        )));
    }
    crate::fs::atomic_write(dest, &body)
}

/// Make sure every file of `files` is in `dir` with the right content,
/// downloading missing or corrupt ones from the first mirror that works.
/// `log` is told about each download. Returns `dir`.
pub fn fetch_files(
    dir: &Path,
    files: &[RemoteFile],
    mirrors: &[String],
    mut log: impl FnMut(&str),
) -> Result<PathBuf, DataError> {
    for f in files {
        let dest = dir.join(f.name);
        if dest.is_file() && content_sha256(&dest).is_ok_and(|s| s == f.sha256) {
            continue;
        }
        let mut errors = Vec::new();
        for m in mirrors {
            let url = format!("{}/{}", m.trim_end_matches('/'), f.name);
            log(&format!("downloading {url} -> {}", dest.display()));
            match download_verified(&url, &dest, f.sha256) {
                Ok(()) => break,
                Err(e) => errors.push(e.to_string()),
            }
        }
        if !dest.is_file() {
            return Err(DataError::Download {
                url: f.name.to_string(),
                reason: format!("every mirror failed: {}", errors.join("; ")),
            });
        }
    }
    Ok(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::io::Write;
    use std::net::TcpListener;

    /// Serve `routes` (path → body; `None` body = close after a partial body)
    /// on 127.0.0.1 for `n` requests.
    fn serve(routes: Vec<(&'static str, Option<Vec<u8>>)>, n: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(n) {
                let mut stream = stream.unwrap();
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    if h == "\r\n" || h.is_empty() {
                        break;
                    }
                }
                match routes.iter().find(|(p, _)| *p == path) {
                    Some((_, Some(body))) => {
                        write!(
                            stream,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .unwrap();
                        stream.write_all(body).unwrap();
                    }
                    Some((_, None)) => {
                        stream
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\nshort")
                            .unwrap();
                    }
                    None => {
                        stream
                            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .unwrap();
                    }
                }
            }
        });
        format!("http://{addr}")
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn good_download_lands_and_is_verified_over_content() {
        let content = crate::idx::encode_idx(&[3], &[1, 2, 3]);
        let sha = hex(&Sha256::digest(&content));
        let base = serve(vec![("/a.gz", Some(gz(&content)))], 1);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.gz");
        download_verified(&format!("{base}/a.gz"), &dest, &sha).unwrap();
        assert_eq!(read_maybe_gzip(&dest).unwrap(), content);
        assert!(!dir.path().join("a.gz.part").exists());
    }

    #[test]
    fn bad_checksum_404_and_truncation_leave_nothing() {
        let content = b"hello".to_vec();
        let base = serve(vec![("/a", Some(content.clone())), ("/cut", None)], 3);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a");
        let zero = "0".repeat(64);
        let e = download_verified(&format!("{base}/a"), &dest, &zero)
            .unwrap_err()
            .to_string();
        assert!(e.contains("SHA-256 mismatch") && e.contains("/a"), "{e}");
        let e = download_verified(&format!("{base}/missing"), &dest, &zero)
            .unwrap_err()
            .to_string();
        assert!(e.contains("404"), "{e}");
        let e = download_verified(&format!("{base}/cut"), &dest, &zero)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/cut"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn fetch_falls_back_to_the_next_mirror_and_skips_good_files() {
        let content = b"payload".to_vec();
        static FILES: [RemoteFile; 1] = [RemoteFile {
            name: "f.bin",
            sha256: "239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5",
        }];
        assert_eq!(hex(&Sha256::digest(&content)), FILES[0].sha256);
        let bad = serve(vec![], 1);
        let good = serve(vec![("/m/f.bin", Some(content.clone()))], 1);
        let dir = tempfile::tempdir().unwrap();
        let mut logs = Vec::new();
        fetch_files(dir.path(), &FILES, &[bad, format!("{good}/m/")], |l| {
            logs.push(l.to_string())
        })
        .unwrap();
        assert_eq!(std::fs::read(dir.path().join("f.bin")).unwrap(), content);
        assert_eq!(logs.len(), 2);
        // Second call: the file is already good, nothing is fetched (servers are gone).
        fetch_files(dir.path(), &FILES, &["http://127.0.0.1:9".into()], |_| {
            panic!("refetched")
        })
        .unwrap();
    }

    #[test]
    fn fashion_mnist_checksums_match_the_debian_package() {
        let dir = Path::new(crate::FASHION_MNIST_DEBIAN_DIR);
        if !dir.is_dir() {
            eprintln!("skipping: {} not installed", dir.display());
            return;
        }
        for f in &FASHION_MNIST_FILES {
            assert_eq!(
                content_sha256(&dir.join(f.name)).unwrap(),
                f.sha256,
                "{}",
                f.name
            );
        }
    }
}
