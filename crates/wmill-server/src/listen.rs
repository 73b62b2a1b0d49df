//! Binding the listening socket, first thing at start (a clash must create nothing), and
//! saying who holds the port when it is taken.
//!
//! On Linux the holder is found without any tool: the listening sockets on the port are read
//! from `/proc/net/tcp` and `/proc/net/tcp6` (state `0A`), and their inodes looked for among
//! the processes' open files (`/proc/<pid>/fd/*` → `socket:[<inode>]`). Only processes
//! whose files we may read are seen (our user's, or all as root); when none is found, the
//! error says which command shows it.

use std::collections::HashSet;
use std::path::Path;

/// Binds `addr`; an address in use is reported with the process that holds it, when it
/// can be found.
pub async fn bind(addr: &str) -> Result<tokio::net::TcpListener, String> {
    match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let hint = port_of(addr).map_or_else(String::new, |p| format!("; {}", holder_hint(p)));
            Err(format!("cannot listen on {addr}: {e}{hint}"))
        }
        Err(e) => Err(format!("cannot listen on {addr}: {e}")),
    }
}

/// The port of a `host:port` listen address (`[::1]:8000` included).
fn port_of(addr: &str) -> Option<u16> {
    addr.rsplit_once(':')?.1.parse().ok()
}

/// Who holds `port`: `held by pid N (comm)`, or how to find out.
fn holder_hint(port: u16) -> String {
    let holders = holders(port);
    if holders.is_empty() {
        if cfg!(target_os = "linux") {
            format!(
                "no process of this user listens on port {port}; `sudo ss -ltnp 'sport = :{port}'` \
                 names the one that does"
            )
        } else {
            format!("`lsof -nP -iTCP:{port} -sTCP:LISTEN` names the process holding port {port}")
        }
    } else {
        let names: Vec<String> = holders
            .iter()
            .map(|(pid, comm)| format!("pid {pid} ({comm})"))
            .collect();
        format!("port {port} is held by {}", names.join(", "))
    }
}

/// The processes listening on `port`, as `(pid, command name)`, sorted by pid; empty when
/// none can be seen (or off Linux).
fn holders(port: u16) -> Vec<(u32, String)> {
    if !cfg!(target_os = "linux") {
        return Vec::new();
    }
    let mut inodes = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            inodes.extend(listening_inodes(&text, port));
        }
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<(u32, String)> = procs
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            holds_any(&entry.path(), &inodes).then(|| {
                let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                (pid, comm.trim().to_string())
            })
        })
        .collect();
    found.sort();
    found
}

/// Whether the process at `/proc/<pid>` has one of `inodes` open as a socket.
fn holds_any(proc_dir: &Path, inodes: &HashSet<u64>) -> bool {
    let Ok(fds) = std::fs::read_dir(proc_dir.join("fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|target| {
            target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| inodes.contains(&n))
        })
    })
}

/// The inodes of the sockets listening on `port` in a `/proc/net/tcp{,6}` table: the rows
/// whose local address ends in the port (hex) and whose state is `0A` (LISTEN).
fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let state = fields.get(3)?;
            let inode = fields.get(9)?;
            let (_, hex_port) = local.rsplit_once(':')?;
            (u16::from_str_radix(hex_port, 16).ok()? == port && *state == "0A")
                .then(|| inode.parse().ok())
                .flatten()
        })
        .filter(|inode| *inode != 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 123456 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F40 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 123457 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 100 0 0 10 0
";

    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F40 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn listening_sockets_are_read_from_the_tables() {
        // 0x1F40 = 8000: the LISTEN row, not the established connection on the same port.
        assert_eq!(listening_inodes(TCP, 8000), vec![123456]);
        assert_eq!(listening_inodes(TCP, 22), vec![999]);
        assert_eq!(listening_inodes(TCP, 9000), Vec::<u64>::new());
        assert_eq!(listening_inodes(TCP6, 8000), vec![777]);
        assert_eq!(listening_inodes("", 8000), Vec::<u64>::new());
    }

    #[test]
    fn ports_are_read_from_listen_addresses() {
        assert_eq!(port_of("127.0.0.1:8000"), Some(8000));
        assert_eq!(port_of("[::1]:8443"), Some(8443));
        assert_eq!(port_of("localhost"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_holder_of_a_port_is_named() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let hint = holder_hint(port);
        assert!(
            hint.contains(&format!("pid {} (", std::process::id())),
            "{hint}"
        );
        drop(l);
        assert!(holder_hint(port).contains(&format!("ss -ltnp 'sport = :{port}'")));
    }
}
