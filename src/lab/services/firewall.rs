//! The lab's filtered port: an nftables table inside the lab namespace
//! whose one rule drops TCP SYNs to [`Ports::FILTERED`], so a SYN there
//! gets no answer at all (neither SYN-ACK nor RST). The table lives and
//! dies with the namespace; nothing outside the lab is touched.

use std::io::Write;
use std::process::{Command, Stdio};

use super::{Ports, ServiceError};
use crate::lab::netns;

/// The table, in the `inet` family: `table inet nettool-lab`.
pub const TABLE: &str = "nettool-lab";

/// The ruleset `nft -f` loads. Only SYNs (SYN set, ACK clear) to the port
/// are dropped; the counter lets status and tests prove the rule matched.
pub fn ruleset() -> String {
    format!(
        "table inet {TABLE} {{\n\
         \tchain input {{\n\
         \t\ttype filter hook input priority filter; policy accept;\n\
         \t\ttcp dport {} tcp flags & (syn | ack) == syn counter drop comment \"nettool lab: filtered port\"\n\
         \t}}\n\
         }}\n",
        Ports::FILTERED
    )
}

/// Runs `nft ARGS` inside `namespace` (on a thread that entered it; the
/// child inherits it), feeding `stdin`.
fn nft(namespace: &str, args: &[&str], stdin: Option<&str>) -> Result<String, ServiceError> {
    let command = format!("nft {} (in {namespace})", args.join(" "));
    let run = || -> Result<String, ServiceError> {
        let mut child = Command::new("nft")
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    ServiceError::NftMissing
                } else {
                    ServiceError::io(format!("running `{command}`"), e)
                }
            })?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())
                .map_err(|e| ServiceError::io(format!("feeding `{command}`"), e))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| ServiceError::io(format!("waiting for `{command}`"), e))?;
        if !out.status.success() {
            return Err(ServiceError::Nft {
                command: command.clone(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().into(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    netns::in_namespace(namespace, run)?
}

/// Loads the table into `namespace` (which must be a lab's: never the
/// machine's own).
pub fn install(namespace: &str) -> Result<(), ServiceError> {
    nft(namespace, &["-f", "-"], Some(&ruleset())).map(drop)
}

/// How many SYNs the rule has dropped, or `None` when the rule is not in
/// place (no table, or no `nft` to ask).
pub fn dropped(namespace: &str) -> Option<u64> {
    let text = nft(namespace, &["list", "table", "inet", TABLE], None).ok()?;
    parse_dropped(&text)
}

/// The drop rule's packet counter in `nft list table` output. Pure.
pub fn parse_dropped(listing: &str) -> Option<u64> {
    let port = format!("tcp dport {}", Ports::FILTERED);
    let rule = listing
        .lines()
        .find(|l| l.contains(&port) && l.contains("drop"))?;
    let after = rule.split_once("counter packets ")?.1;
    after.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "table inet nettool-lab {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\ttcp dport 82 tcp flags & (syn | ack) == syn counter packets 3 bytes 180 drop comment \"nettool lab: filtered port\"\n\t}\n}\n";

    #[test]
    fn the_counter_is_read_from_the_listing() {
        assert_eq!(parse_dropped(LISTING), Some(3));
        assert_eq!(parse_dropped("table inet nettool-lab {\n}\n"), None);
        assert_eq!(
            parse_dropped(&LISTING.replace("dport 82", "dport 83")),
            None
        );
    }

    #[test]
    fn the_ruleset_drops_only_syns_to_the_filtered_port() {
        let rules = ruleset();
        assert!(rules.contains("table inet nettool-lab"));
        assert!(rules.contains("tcp dport 82 tcp flags & (syn | ack) == syn counter drop"));
        assert_eq!(rules.matches("drop").count(), 1, "{rules}");
        assert!(rules.contains("policy accept"));
    }
}
