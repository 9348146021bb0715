//! Private files written atomically: a temporary file in the same directory, mode 0600, synced,
//! then renamed over the target, so a reader never sees a torn file and a failure never corrupts
//! what was on disk. Directories the library creates are 0700.

use std::io::Write as _;
use std::path::Path;

/// Create `dir` and missing parents; directories created here get mode 0700.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Write `data` to `path` atomically with mode 0600 (the parent directory must exist, or is
/// created with 0700).
pub fn write_private_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.exists() {
        create_private_dir(parent)?;
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(".ociauth-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut tmp = builder.tempfile_in(parent)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// `mode & 0o177 != 0`: group/other bits or owner-execute set (the CLI's "too open" check).
pub fn permissions_too_open(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o177 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn atomic_private_write() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/dir/file");
        write_private_atomic(&p, b"one").unwrap();
        write_private_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
            assert_eq!(
                std::fs::metadata(p.parent().unwrap())
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777,
                0o700
            );
            assert!(!permissions_too_open(&p));
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
            assert!(permissions_too_open(&p));
        }
        // No temp files left behind.
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }
}
