//! A real FreeRADIUS 3 server for the RADIUS tests, from a private copy of the Debian
//! configuration in a temporary directory.
//!
//! It installs nothing: `/usr/sbin/freeradius` must exist (CI installs the `freeradius` package);
//! without it [`FreeRadius::start`] panics with a message that says so, so that the tests fail
//! rather than pass without having run.
//!
//! The server listens on 127.0.0.1 on a free UDP port, has one client (127.0.0.1, the given secret,
//! `require_message_authenticator = yes`) and these users:
//! - `alice`: accepted with the passcode [`ALICE_PASSCODE`];
//! - `bob`: always rejected;
//! - `carol`: a first request (without `State`) gets an Access-Challenge with the Reply-Message
//!   [`CAROL_HINT`] and the State [`CAROL_STATE`]; a request with that State and
//!   [`CAROL_NEXT_TOKENCODE`] is accepted.

#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's `freeradius` package puts the server.
pub const FREERADIUS: &str = "/usr/sbin/freeradius";
/// Debian's stock configuration, copied for each server.
pub const STOCK_CONFIG: &str = "/etc/freeradius/3.0";

pub const ALICE_PASSCODE: &str = "123456";
pub const CAROL_NEXT_TOKENCODE: &str = "654321";
pub const CAROL_HINT: &str = "Enter the next tokencode.";
/// The State of carol's challenge ("carol-next").
pub const CAROL_STATE: &[u8] = b"carol-next";
/// The Reply-Message of every reject (overriding anything the users file would leak).
pub const REJECT_MESSAGE: &str = "Access denied.";

/// How the test server is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// The secret shared with the 127.0.0.1 client.
    pub secret: String,
    /// Whether replies carry a Message-Authenticator (FreeRADIUS 3.2.1 adds none by itself).
    pub sign_replies: bool,
}

impl Options {
    pub fn new(secret: &str) -> Self {
        Options {
            secret: secret.to_string(),
            sign_replies: true,
        }
    }
}

/// A running FreeRADIUS; killed when dropped.
pub struct FreeRadius {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its configuration directory (and log).
    dir: tempfile::TempDir,
}

impl FreeRadius {
    /// Starts a server sharing `secret` with 127.0.0.1, replies signed.
    pub fn start(secret: &str) -> Self {
        Self::start_with(Options::new(secret))
    }

    /// Starts a server; panics (with FreeRADIUS's log) if it is missing or does not come up.
    pub fn start_with(options: Options) -> Self {
        assert!(
            Path::new(FREERADIUS).exists(),
            "FreeRADIUS is not installed ({FREERADIUS} is missing): the RADIUS tests need a real \
             server. Install it with `apt-get install -y freeradius freeradius-utils` (.ci/run does)."
        );
        assert!(
            Path::new(STOCK_CONFIG).join("radiusd.conf").exists(),
            "FreeRADIUS's configuration {STOCK_CONFIG} is missing: reinstall the freeradius package"
        );
        // A few tries in case another process takes the port between our probe and the bind.
        let mut last_log = String::new();
        for _ in 0..3 {
            let port = free_udp_port();
            let dir = tempfile::tempdir().expect("temporary directory");
            configure(dir.path(), port, &options);
            let log_path = dir.path().join("freeradius.log");
            let log = fs::File::create(&log_path).expect("log file");
            let child = Command::new(FREERADIUS)
                .arg("-X")
                .arg("-d")
                .arg(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {FREERADIUS}: {e}"));
            let mut server = FreeRadius {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                dir,
            };
            match server.wait_ready(&log_path) {
                Ok(()) => return server,
                Err(log) => last_log = log,
            }
        }
        panic!("FreeRADIUS did not start; its last log:\n{last_log}");
    }

    /// Waits for "Ready to process requests"; on failure returns the log.
    fn wait_ready(&mut self, log_path: &Path) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let log = read_log(log_path);
            if log.contains("Ready to process requests") {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("(exited with {status})\n{log}"));
            }
            if Instant::now() > deadline {
                return Err(format!("(not ready after 15 s)\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's log so far (its `-X` debug output), for failure messages.
    pub fn log(&self) -> String {
        read_log(&self.dir.path().join("freeradius.log"))
    }
}

impl Drop for FreeRadius {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_log(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    text
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
    socket.local_addr().expect("local address").port()
}

/// An address where nothing listens: datagrams sent there draw an ICMP port unreachable.
pub fn closed_udp_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_udp_port()))
}

/// A socket that receives and never answers (a server that is up but hung). Keep it alive for as
/// long as the address is used.
pub fn silent_udp_server() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
    let addr = socket.local_addr().expect("local address");
    (socket, addr)
}

/// Copies the stock configuration into `dir` and adapts it (see the module documentation).
fn configure(dir: &Path, port: u16, options: &Options) {
    copy_tree(Path::new(STOCK_CONFIG), dir);
    let d = dir.display();

    // radiusd.conf: everything under `dir` (-d alone still points at /etc), run as whoever runs
    // the tests, and send rejects at once (the default 1 s delay only slows the tests).
    let conf_path = dir.join("radiusd.conf");
    let conf = fs::read_to_string(&conf_path).expect("read radiusd.conf");
    let mut seen = [false; 3];
    let conf: String = conf
        .lines()
        .map(|line| {
            let key = line.split('=').next().unwrap_or("").trim();
            let indent = &line[..line.len() - line.trim_start().len()];
            match (key, line.contains('=')) {
                ("raddbdir", true) => {
                    seen[0] = true;
                    format!("{indent}raddbdir = {d}")
                }
                ("logdir", true) => {
                    seen[1] = true;
                    format!("{indent}logdir = {d}")
                }
                ("run_dir", true) => {
                    seen[2] = true;
                    format!("{indent}run_dir = {d}")
                }
                ("user" | "group", true) => format!("{indent}# {}", line.trim_start()),
                ("reject_delay", true) => format!("{indent}reject_delay = 0"),
                _ => line.to_string(),
            }
        })
        .map(|line| line + "\n")
        .collect();
    assert_eq!(
        seen, [true; 3],
        "radiusd.conf lacks raddbdir, logdir or run_dir: {conf_path:?}"
    );
    fs::write(&conf_path, conf).expect("write radiusd.conf");

    // Modules: only what the site uses (the stock eap module wants certificates Debian never
    // creates).
    let mods = dir.join("mods-enabled");
    for entry in fs::read_dir(&mods).expect("mods-enabled") {
        let entry = entry.expect("mods-enabled entry");
        let name = entry.file_name();
        if !["always", "attr_filter", "expr", "files", "pap"].contains(&name.to_str().unwrap_or(""))
        {
            fs::remove_file(entry.path()).expect("remove a module");
        }
    }

    // One site, on our port only (the stock inner-tunnel takes 18120).
    let sites = dir.join("sites-enabled");
    for entry in fs::read_dir(&sites).expect("sites-enabled") {
        fs::remove_file(entry.expect("site").path()).expect("remove a site");
    }
    fs::write(sites.join("e2e"), site(port, options.sign_replies)).expect("write the site");

    fs::write(
        dir.join("clients.conf"),
        format!(
            "client e2e {{\n\tipaddr = 127.0.0.1\n\tsecret = \"{}\"\n\
             \trequire_message_authenticator = yes\n}}\n",
            options.secret
        ),
    )
    .expect("write clients.conf");

    let users = dir.join("mods-config/files/authorize");
    let _ = fs::remove_file(&users);
    fs::write(
        &users,
        format!(
            "alice\tCleartext-Password := \"{ALICE_PASSCODE}\"\n\
             bob\tAuth-Type := Reject\n\
             carol\tCleartext-Password := \"{CAROL_NEXT_TOKENCODE}\"\n"
        ),
    )
    .expect("write the users file");
}

/// The virtual server: carol's challenge in `authorize`, PAP for the rest, a Message-Authenticator
/// on every reply (when `sign`), and a fixed Reply-Message on rejects.
fn site(port: u16, sign: bool) -> String {
    let sign_reply = if sign {
        "\t\t\t&Message-Authenticator := 0x00\n"
    } else {
        ""
    };
    let sign_post_auth = if sign {
        "\t\tupdate reply {\n\t\t\t&Message-Authenticator := 0x00\n\t\t}\n"
    } else {
        ""
    };
    let state_hex: String = CAROL_STATE.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        r#"server e2e {{
	listen {{
		type = auth
		ipaddr = 127.0.0.1
		port = {port}
	}}
	authorize {{
		if (&User-Name == "carol") {{
			if (!&State) {{
				update reply {{
					&Reply-Message := "{CAROL_HINT}"
					&State := 0x{state_hex}
{sign_reply}				}}
				update control {{
					&Response-Packet-Type := Access-Challenge
				}}
				handled
			}}
			if (&State != 0x{state_hex}) {{
				reject
			}}
		}}
		files
		pap
	}}
	authenticate {{
		Auth-Type PAP {{
			pap
		}}
	}}
	post-auth {{
{sign_post_auth}		Post-Auth-Type REJECT {{
			update reply {{
				&Reply-Message := "{REJECT_MESSAGE}"
{sign_reply}			}}
		}}
	}}
}}
"#
    )
}

/// `cp -a`, keeping symbolic links (mods-enabled holds relative links to mods-available).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create a directory");
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("read {from:?}: {e}")) {
        let entry = entry.expect("directory entry");
        let source = entry.path();
        let target: PathBuf = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_symlink() {
            let link = fs::read_link(&source).expect("read a link");
            std::os::unix::fs::symlink(link, &target).expect("copy a link");
        } else if kind.is_dir() {
            copy_tree(&source, &target);
        } else {
            fs::copy(&source, &target)
                .unwrap_or_else(|e| panic!("copy {source:?} (are the tests run as root?): {e}"));
        }
    }
}
