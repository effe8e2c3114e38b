//! The ways of a run of several targets (`probe`, `scan`): every
//! target's path is found first, then one stack is opened for all the
//! targets that leave by one interface from one source (one link, one
//! source port, one RST guard holding a rule for each target's flows),
//! every stack before the privileges go, which they do once
//! ([`crate::setup::setup_done`]). The targets then run in turn, each
//! over its interface's stack, holding nothing privileged.
//!
//! One stack per interface, not per target: each AF_PACKET link is
//! handed a copy of every frame on its interface (all of IPv4 and ARP),
//! so a stack per target of a /24 would be 254 receive buffers each
//! copying the whole interface's traffic.

use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::Ordering;

use anyhow::Result;

use super::{Env, Way};
use crate::setup::{Flows, Found, LinkOptions, Path, Port, Request, Stack, Unresolved, setup_done};

/// Whether two targets' paths leave by the same interface from the same
/// source: they can share one stack.
pub(crate) fn same_way(a: &Path, b: &Path) -> bool {
    a.iface.index == b.iface.index && a.source == b.source && a.loopback == b.loopback
}

/// The source port of a run's stack on `path` (`opened`: the run's
/// stacks opened so far): the first stack from an address reserves
/// `sport` (or a free port); a later one from the same address (this
/// host's own address, reached over loopback beside the interface) takes
/// the same port, which the first one's reservation holds for the run.
pub(crate) fn port_for(opened: &[Stack], path: &Path, sport: Option<u16>) -> Port {
    match opened.iter().find(|s| s.local().ip() == path.source) {
        Some(first) => Port::Held(first.local().port()),
        None => Port::Reserve(sport),
    }
}

/// Every target's way and the stacks they leave by.
pub(crate) struct Ways {
    /// Each target's path (and the index of the stack it shares), or why
    /// it has none; as many as were found before Ctrl-C.
    each: Vec<Result<(Path, usize), Unresolved>>,
    /// The first target's index of each stack, in the order found.
    firsts: Vec<usize>,
    /// Open once [`Ways::open`] has run: one per entry of `firsts`.
    stacks: Vec<Stack>,
    /// What each stack's guard had dropped when last asked.
    counted: Vec<u64>,
}

/// A target's turn: its path and the stack it leaves by, or why it has
/// no path.
pub(crate) enum Turn<'a> {
    Ready {
        path: &'a Path,
        stack: &'a mut Stack,
    },
    Unresolved(&'a Unresolved),
}

impl Ways {
    /// The path to each of `dsts`, in order (the kernel's route, the next
    /// hop resolved by ARP), until Ctrl-C: the targets after it have none
    /// ([`Ways::len`] says how many do).
    pub fn find(dsts: impl IntoIterator<Item = IpAddr>, way: &Way, env: &mut Env) -> Result<Ways> {
        let mut ways = Ways {
            each: Vec::new(),
            firsts: Vec::new(),
            stacks: Vec::new(),
            counted: Vec::new(),
        };
        for dst in dsts {
            if env.interrupt.load(Ordering::Relaxed) {
                break;
            }
            let request = Request {
                dst,
                interface: way.interface,
                source: way.source,
                cache: &way.cache,
                pcap: env.pcap.as_ref(),
            };
            let reached = match Path::find(request, env.err, env.interrupt)? {
                Found::Path(path) => {
                    let shared = ways.firsts.iter().position(
                        |&first| matches!(&ways.each[first], Ok((p, _)) if same_way(p, &path)),
                    );
                    let stack = shared.unwrap_or_else(|| {
                        ways.firsts.push(ways.each.len());
                        ways.firsts.len() - 1
                    });
                    Ok((path, stack))
                }
                Found::Unresolved(why) => Err(why),
            };
            ways.each.push(reached);
        }
        Ok(ways)
    }

    /// How many targets have a way (or know why they have none).
    pub fn len(&self) -> usize {
        self.each.len()
    }

    /// The path to target `i`, if it has one.
    pub fn path(&self, i: usize) -> Option<&Path> {
        self.each.get(i)?.as_ref().ok().map(|(path, _)| path)
    }

    /// Opens every stack, each claiming the flows of all its targets
    /// (`flows` of a target's index: one kind for the whole run) from the
    /// source port `sport` (or a free one), over a link opened with
    /// `opts`; then the setup is done: the privileges go.
    pub fn open(
        &mut self,
        sport: Option<u16>,
        opts: &LinkOptions,
        flows: impl Fn(usize) -> Flows,
        env: &mut Env,
    ) -> Result<()> {
        for (s, &first) in self.firsts.iter().enumerate() {
            let claimed: Vec<Flows> = self
                .each
                .iter()
                .enumerate()
                .filter(|(_, e)| matches!(e, Ok((_, stack)) if *stack == s))
                .map(|(i, _)| flows(i))
                .collect();
            let Ok((path, _)) = &self.each[first] else {
                unreachable!("a stack's first target has a path");
            };
            let port = port_for(&self.stacks, path, sport);
            let stack = path.open_for_all(port, &claimed, opts, env.pcap.as_ref(), env.err)?;
            self.stacks.push(stack);
            self.counted.push(0);
        }
        let stacks: Vec<&Stack> = self.stacks.iter().collect();
        setup_done(&stacks, env.err)
    }

    /// Target `i`'s turn, once [`Ways::open`] has run.
    pub fn turn(&mut self, i: usize) -> Turn<'_> {
        match &self.each[i] {
            Ok((path, s)) => Turn::Ready {
                path,
                stack: &mut self.stacks[*s],
            },
            Err(why) => Turn::Unresolved(why),
        }
    }

    /// How many of the kernel's RSTs target `i`'s guard dropped since it
    /// was last asked: what that target's run drew, asked at its end.
    /// `None` without a guard, or when the count could not be read (a
    /// warning on `err` says why).
    pub fn dropped(&mut self, i: usize, err: &mut dyn Write) -> Option<u64> {
        let Ok((_, s)) = &self.each[i] else {
            return None;
        };
        let s = *s;
        let total = self.stacks.get(s)?.dropped_so_far(err)?;
        let grown = total.saturating_sub(self.counted[s]);
        self.counted[s] = total;
        Some(grown)
    }

    /// Ends the run: each stack torn down (its guard and link removed).
    pub fn teardown(self, err: &mut dyn Write) {
        for stack in self.stacks {
            stack.teardown(err);
        }
    }
}
