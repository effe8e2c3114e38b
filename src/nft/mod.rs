//! The few nftables messages nettool sends, over its own
//! `NETLINK_NETFILTER` socket.
//!
//! The RST guard ([`crate::guard`]) needs one table, one base chain and
//! one rule, created in one transaction, a rule's counter read back, and
//! the tables listed to sweep old ones. That is a handful of messages, so
//! they are written here by hand rather than through a crate: `rustables`
//! (GPL-3.0, which this MIT/Apache project cannot take in), `nftnl` and
//! `mnl` (bindings to the C libraries libnftnl and libmnl, which every
//! build machine would then need) and `neli` (generic netlink, with no
//! nf_tables messages) do not fit. The framing is [`crate::netlink`]'s.
//!
//! Layout (linux/netfilter/nfnetlink.h and nf_tables.h): every message is
//! a netlink header, then a `nfgenmsg` (family u8, version u8, resource id
//! big-endian u16), then attributes. nf_tables' integer attributes are
//! big-endian. Changes travel in a batch: `NFNL_MSG_BATCH_BEGIN`, the
//! messages, `NFNL_MSG_BATCH_END`; the kernel applies all of them or none,
//! and answers each message that asks for an acknowledgement.
//!
//! The encoding is pure (bytes in a `Vec`), so it is tested without root;
//! [`socket`] sends it.

pub mod expr;
pub mod nflog;
pub mod socket;

pub use expr::Expr;
pub use socket::{NftSocket, Refused};

use crate::netlink::{self, HEADER_LEN, Header, NLM_F_REQUEST};

/// `NFPROTO_INET`: tables that see both IPv4 and IPv6.
pub const FAMILY_INET: u8 = 1;
/// `NFPROTO_NETDEV`: tables whose chains hook one device, where frames
/// arrive (ingress) before any protocol layer sees them.
pub const FAMILY_NETDEV: u8 = 5;
/// `NFNL_SUBSYS_NFTABLES`: the high byte of every nf_tables message type.
const SUBSYS_NFTABLES: u16 = 10;
/// `NFNL_MSG_BATCH_BEGIN` and `_END` (`NLMSG_MIN_TYPE` and the next).
const MSG_BATCH_BEGIN: u16 = 0x10;
const MSG_BATCH_END: u16 = 0x11;
/// Length of a `nfgenmsg`.
pub const GENMSG_LEN: usize = 4;

/// `NLM_F_ACK`, `NLM_F_EXCL`, `NLM_F_CREATE`, `NLM_F_APPEND`, `NLM_F_DUMP`.
pub const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLM_F_DUMP: u16 = 0x300;
/// `NLA_F_NESTED`: an attribute whose data is attributes.
const NLA_F_NESTED: u16 = 0x8000;

/// The nf_tables message kinds nettool sends (`enum nf_tables_msg_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Msg {
    NewTable = 0,
    GetTable = 1,
    DelTable = 2,
    NewChain = 3,
    NewRule = 6,
    GetRule = 7,
}

impl Msg {
    /// The netlink message type: subsystem and message.
    pub fn kind(self) -> u16 {
        (SUBSYS_NFTABLES << 8) | self as u16
    }
}

/// Table attributes (`enum nft_table_attributes`).
pub mod table {
    pub const NAME: u16 = 1;
    pub const FLAGS: u16 = 2;
    pub const USERDATA: u16 = 6;
    /// `NFT_TABLE_F_OWNER`: the table belongs to the netlink socket that
    /// made it, and goes when that socket closes (Linux 5.12).
    pub const F_OWNER: u32 = 0x2;
}

/// Chain attributes (`enum nft_chain_attributes`, `nft_hook_attributes`).
pub mod chain {
    pub const TABLE: u16 = 1;
    pub const NAME: u16 = 3;
    pub const HOOK: u16 = 4;
    pub const POLICY: u16 = 5;
    pub const TYPE: u16 = 7;
    pub const HOOK_NUM: u16 = 1;
    pub const HOOK_PRIORITY: u16 = 2;
    /// `NF_INET_LOCAL_OUT`: packets this host sends.
    pub const HOOK_OUTPUT: u32 = 3;
    /// `NF_INET_LOCAL_IN`: packets for this host.
    pub const HOOK_INPUT: u32 = 1;
    /// `NFTA_HOOK_DEV`: the device a netdev chain hooks, by name.
    pub const HOOK_DEV: u16 = 3;
    /// `NF_NETDEV_INGRESS`: frames the device received, after the packet
    /// taps (AF_PACKET sockets, tcpdump) and before the IP layer.
    pub const HOOK_INGRESS: u32 = 0;
    /// `NF_ACCEPT`.
    pub const POLICY_ACCEPT: u32 = 1;
}

/// Rule attributes (`enum nft_rule_attributes`, `nft_list_attributes`,
/// `nft_expr_attributes`).
pub mod rule {
    pub const TABLE: u16 = 1;
    pub const CHAIN: u16 = 2;
    pub const EXPRESSIONS: u16 = 4;
    pub const USERDATA: u16 = 7;
    pub const LIST_ELEM: u16 = 1;
    pub const EXPR_NAME: u16 = 1;
    pub const EXPR_DATA: u16 = 2;
}

/// Attributes being written: a buffer that only grows, with nesting.
#[derive(Debug, Default)]
pub struct Attrs {
    buf: Vec<u8>,
}

impl Attrs {
    pub fn new() -> Attrs {
        Attrs::default()
    }

    pub fn bytes(&mut self, kind: u16, data: &[u8]) -> &mut Attrs {
        netlink::push_attribute(&mut self.buf, kind, data);
        self
    }

    /// A big-endian `u32`, as nf_tables reads every integer attribute.
    pub fn u32(&mut self, kind: u16, value: u32) -> &mut Attrs {
        self.bytes(kind, &value.to_be_bytes())
    }

    /// A NUL-terminated string.
    pub fn str(&mut self, kind: u16, value: &str) -> &mut Attrs {
        let mut data = Vec::with_capacity(value.len() + 1);
        data.extend_from_slice(value.as_bytes());
        data.push(0);
        self.bytes(kind, &data)
    }

    /// An attribute holding the attributes `inner` writes.
    pub fn nested(&mut self, kind: u16, inner: impl FnOnce(&mut Attrs)) -> &mut Attrs {
        let mut attrs = Attrs::new();
        inner(&mut attrs);
        self.bytes(kind | NLA_F_NESTED, &attrs.buf)
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Appends one message: header, `nfgenmsg`, attributes.
fn push_message(
    buf: &mut Vec<u8>,
    kind: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
    attrs: &[u8],
) {
    let start = buf.len();
    buf.resize(start + HEADER_LEN, 0);
    Header {
        len: (HEADER_LEN + GENMSG_LEN + attrs.len()) as u32,
        kind,
        flags: NLM_F_REQUEST | flags,
        seq,
        pid: 0,
    }
    .emit(&mut buf[start..]);
    buf.push(family);
    buf.push(0); // NFNETLINK_V0
    buf.extend_from_slice(&res_id.to_be_bytes());
    buf.extend_from_slice(attrs);
}

/// One transaction: every message in it is applied, or none is.
#[derive(Debug)]
pub struct Batch {
    buf: Vec<u8>,
    first: u32,
    next_seq: u32,
    /// The sequence number and a description of each message that asked
    /// for an acknowledgement, in order.
    acked: Vec<(u32, &'static str)>,
}

impl Batch {
    /// A batch whose messages are numbered from `seq` on.
    pub fn new(seq: u32) -> Batch {
        let mut buf = Vec::with_capacity(1024);
        let res_id = SUBSYS_NFTABLES;
        push_message(&mut buf, MSG_BATCH_BEGIN, 0, seq, 0, res_id, &[]);
        Batch {
            buf,
            first: seq,
            next_seq: seq.wrapping_add(1),
            acked: Vec::new(),
        }
    }

    /// Adds a message (`what` names it in errors), acknowledged.
    fn push(&mut self, msg: Msg, flags: u16, attrs: &Attrs, what: &'static str) {
        self.push_in(FAMILY_INET, msg, flags, attrs, what);
    }

    /// [`Batch::push`], about an object of `family`.
    fn push_in(&mut self, family: u8, msg: Msg, flags: u16, attrs: &Attrs, what: &'static str) {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        push_message(
            &mut self.buf,
            msg.kind(),
            NLM_F_ACK | flags,
            seq,
            family,
            0,
            &attrs.buf,
        );
        self.acked.push((seq, what));
    }

    /// A new `inet` table owned by the sending socket, with a comment
    /// (what `nft list table` shows). Fails if the name is taken.
    pub fn new_owned_table(&mut self, name: &str, comment: &str) {
        self.new_owned_table_in(FAMILY_INET, name, comment, "table");
    }

    /// [`Batch::new_owned_table`] in `family` (`what` names the message
    /// in errors).
    pub fn new_owned_table_in(
        &mut self,
        family: u8,
        name: &str,
        comment: &str,
        what: &'static str,
    ) {
        let mut a = Attrs::new();
        a.str(table::NAME, name)
            .u32(table::FLAGS, table::F_OWNER)
            .bytes(table::USERDATA, &comment_userdata(comment));
        self.push_in(family, Msg::NewTable, NLM_F_CREATE | NLM_F_EXCL, &a, what);
    }

    /// A filter chain of a `netdev` table on `device`'s ingress hook at
    /// `priority`, accepting by default.
    pub fn new_ingress_chain(&mut self, table: &str, name: &str, device: &str, priority: i32) {
        let mut a = Attrs::new();
        a.str(chain::TABLE, table)
            .str(chain::NAME, name)
            .str(chain::TYPE, "filter")
            .u32(chain::POLICY, chain::POLICY_ACCEPT)
            .nested(chain::HOOK, |h| {
                h.u32(chain::HOOK_NUM, chain::HOOK_INGRESS)
                    .u32(chain::HOOK_PRIORITY, priority as u32)
                    .str(chain::HOOK_DEV, device);
            });
        let flags = NLM_F_CREATE | NLM_F_EXCL;
        self.push_in(FAMILY_NETDEV, Msg::NewChain, flags, &a, "ingress chain");
    }

    /// A new `inet` table that outlives the socket (it stays until it is
    /// deleted, or its network namespace goes).
    pub fn new_table(&mut self, name: &str) {
        let mut a = Attrs::new();
        a.str(table::NAME, name);
        self.push(Msg::NewTable, NLM_F_CREATE, &a, "table");
    }

    /// Deletes the table `name` (of any owner but another socket).
    pub fn delete_table(&mut self, name: &str) {
        let mut a = Attrs::new();
        a.str(table::NAME, name);
        self.push(Msg::DelTable, 0, &a, "deletion of a table");
    }

    /// A filter chain on `hook` at `priority`, accepting by default.
    pub fn new_base_chain(&mut self, table: &str, name: &str, hook: u32, priority: i32) {
        let mut a = Attrs::new();
        a.str(chain::TABLE, table)
            .str(chain::NAME, name)
            .str(chain::TYPE, "filter")
            .u32(chain::POLICY, chain::POLICY_ACCEPT)
            .nested(chain::HOOK, |h| {
                h.u32(chain::HOOK_NUM, hook)
                    .u32(chain::HOOK_PRIORITY, priority as u32);
            });
        self.push(Msg::NewChain, NLM_F_CREATE | NLM_F_EXCL, &a, "chain");
    }

    /// A rule appended to `chain`: `exprs` run in order.
    pub fn new_rule(&mut self, table: &str, chain: &str, exprs: &[Expr]) {
        self.new_rule_with(table, chain, exprs, None);
    }

    /// [`Batch::new_rule`], with a comment `nft list` shows after it.
    pub fn new_rule_with(
        &mut self,
        table: &str,
        chain: &str,
        exprs: &[Expr],
        comment: Option<&str>,
    ) {
        let a = rule_attrs(table, chain, exprs, comment);
        self.push(Msg::NewRule, NLM_F_CREATE | NLM_F_APPEND, &a, "rule");
    }

    /// [`Batch::new_rule`] in a table of `family` (`what` names the
    /// message in errors).
    pub fn new_rule_in(
        &mut self,
        family: u8,
        table: &str,
        chain: &str,
        exprs: &[Expr],
        what: &'static str,
    ) {
        let a = rule_attrs(table, chain, exprs, None);
        self.push_in(family, Msg::NewRule, NLM_F_CREATE | NLM_F_APPEND, &a, what);
    }

    /// The bytes to send.
    pub fn finish(mut self) -> Finished {
        let last = self.next_seq;
        push_message(
            &mut self.buf,
            MSG_BATCH_END,
            0,
            last,
            0,
            SUBSYS_NFTABLES,
            &[],
        );
        Finished {
            first: self.first,
            last,
            acked: self.acked,
            bytes: self.buf,
        }
    }
}

/// A rule's attributes: its table and chain, `exprs` in order, and a
/// comment `nft list` shows after it.
fn rule_attrs(table: &str, chain: &str, exprs: &[Expr], comment: Option<&str>) -> Attrs {
    let mut a = Attrs::new();
    a.str(rule::TABLE, table)
        .str(rule::CHAIN, chain)
        .nested(rule::EXPRESSIONS, |list| {
            for e in exprs {
                list.nested(rule::LIST_ELEM, |elem| e.write(elem));
            }
        });
    if let Some(comment) = comment {
        a.bytes(rule::USERDATA, &comment_userdata(comment));
    }
    a
}

/// A batch ready to send.
#[derive(Debug)]
pub struct Finished {
    pub bytes: Vec<u8>,
    /// The sequence numbers of the batch's begin and end: the kernel
    /// reports a batch it refuses whole (no privilege, no nf_tables)
    /// against its begin.
    pub first: u32,
    pub last: u32,
    /// The sequence number and a description of each message the kernel
    /// acknowledges, in order.
    pub acked: Vec<(u32, &'static str)>,
}

impl Finished {
    /// Which message sequence number `seq` names, if it is one of the
    /// batch's.
    pub fn what(&self, seq: u32) -> Option<&'static str> {
        if let Some((_, what)) = self.acked.iter().find(|(s, _)| *s == seq) {
            return Some(what);
        }
        (self.first..=self.last).contains(&seq).then_some("batch")
    }
}

/// A comment as nft stores it in a table's or a rule's user data: one
/// type-length-value (type 0, the comment; a one-byte length), the text
/// NUL-terminated. Cut to fit the kernel's 256 bytes of user data.
fn comment_userdata(comment: &str) -> Vec<u8> {
    let mut text = comment.as_bytes();
    if text.len() > 200 {
        text = &text[..200];
    }
    let mut data = vec![0, (text.len() + 1) as u8];
    data.extend_from_slice(text);
    data.push(0);
    data
}

/// A request to dump every `inet` table (their names and flags).
pub fn list_tables(seq: u32) -> Vec<u8> {
    let mut buf = Vec::new();
    push_message(
        &mut buf,
        Msg::GetTable.kind(),
        NLM_F_DUMP,
        seq,
        FAMILY_INET,
        0,
        &[],
    );
    buf
}

/// A request to dump the rules of `table`'s `chain`.
pub fn list_rules(seq: u32, table: &str, chain: &str) -> Vec<u8> {
    list_rules_in(FAMILY_INET, seq, table, chain)
}

/// [`list_rules`] of a table of `family`.
pub fn list_rules_in(family: u8, seq: u32, table: &str, chain: &str) -> Vec<u8> {
    let mut a = Attrs::new();
    a.str(rule::TABLE, table).str(rule::CHAIN, chain);
    let mut buf = Vec::new();
    push_message(
        &mut buf,
        Msg::GetRule.kind(),
        NLM_F_DUMP,
        seq,
        family,
        0,
        &a.buf,
    );
    buf
}

/// A table in a [`list_tables`] reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    pub name: String,
    pub flags: u32,
}

/// Reads a table from one reply message's payload (after the netlink
/// header); `None` if it names no table.
pub fn parse_table(payload: &[u8]) -> Option<TableInfo> {
    let attrs = payload.get(GENMSG_LEN..)?;
    let mut name = None;
    let mut flags = 0;
    for attr in netlink::attributes(attrs) {
        let (kind, data) = attr.ok()?;
        match kind {
            table::NAME => name = Some(c_string(data)),
            table::FLAGS => flags = u32::from_be_bytes(data.try_into().ok()?),
            _ => {}
        }
    }
    Some(TableInfo { name: name?, flags })
}

/// The packets counted by the `counter` expressions of one rule, from a
/// [`list_rules`] reply message's payload.
pub fn rule_packets(payload: &[u8]) -> Option<u64> {
    let attrs = payload.get(GENMSG_LEN..)?;
    let exprs = find(attrs, rule::EXPRESSIONS)?;
    let mut total = 0;
    for elem in netlink::attributes(exprs) {
        let (_, elem) = elem.ok()?;
        if find(elem, rule::EXPR_NAME).map(c_string).as_deref() != Some("counter") {
            continue;
        }
        let data = find(elem, rule::EXPR_DATA)?;
        let packets = find(data, expr::COUNTER_PACKETS)?;
        total += u64::from_be_bytes(packets.try_into().ok()?);
    }
    Some(total)
}

/// The data of the first attribute of `kind` in `attrs`.
fn find(attrs: &[u8], kind: u16) -> Option<&[u8]> {
    netlink::attributes(attrs)
        .map_while(Result::ok)
        .find(|(k, _)| *k == kind)
        .map(|(_, data)| data)
}

/// A string attribute without its terminating NUL.
fn c_string(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply message's payload: `nfgenmsg` and `attrs`.
    fn payload(attrs: &Attrs) -> Vec<u8> {
        let mut p = vec![FAMILY_INET, 0, 0, 0];
        p.extend_from_slice(&attrs.buf);
        p
    }

    #[test]
    fn integers_are_big_endian_and_strings_nul_terminated() {
        let mut a = Attrs::new();
        a.u32(2, 0x0102_0304).str(1, "out");
        assert_eq!(
            a.into_bytes(),
            [
                &8u16.to_ne_bytes()[..],
                &2u16.to_ne_bytes(),
                &[1, 2, 3, 4],
                &8u16.to_ne_bytes(),
                &1u16.to_ne_bytes(),
                b"out\0"
            ]
            .concat()
        );
    }

    #[test]
    fn nested_attributes_carry_the_nested_flag() {
        let mut a = Attrs::new();
        a.nested(4, |h| {
            h.u32(1, 3);
        });
        let got: Vec<_> = netlink::attributes(&a.buf).map(Result::unwrap).collect();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, 4, "the flag is not part of the type");
        assert_eq!(u16::from_ne_bytes([a.buf[2], a.buf[3]]), 4 | NLA_F_NESTED);
    }

    #[test]
    fn a_comment_is_stored_as_nft_stores_it() {
        assert_eq!(comment_userdata("c"), vec![0, 2, b'c', 0]);
        let long = "x".repeat(300);
        let data = comment_userdata(&long);
        assert_eq!(data.len(), 2 + 201);
        assert_eq!(data[1], 201);
    }

    #[test]
    fn tables_are_read_from_a_listing() {
        let mut a = Attrs::new();
        a.str(table::NAME, "nettool-guard-7-0")
            .u32(table::FLAGS, table::F_OWNER)
            .u32(3, 1);
        let t = parse_table(&payload(&a)).unwrap();
        assert_eq!(t.name, "nettool-guard-7-0");
        assert_eq!(t.flags, table::F_OWNER);
        assert_eq!(parse_table(&payload(Attrs::new().u32(3, 1))), None);
        assert_eq!(parse_table(&[1, 0]), None, "no nfgenmsg");
    }

    #[test]
    fn a_rules_counter_is_read_from_a_listing() {
        let mut a = Attrs::new();
        a.str(rule::TABLE, "t").nested(rule::EXPRESSIONS, |list| {
            list.nested(rule::LIST_ELEM, |e| {
                Expr::Meta(expr::MetaKey::Mark).write(e)
            });
            list.nested(rule::LIST_ELEM, |e| {
                e.str(rule::EXPR_NAME, "counter")
                    .nested(rule::EXPR_DATA, |d| {
                        d.bytes(1, &80u64.to_be_bytes())
                            .bytes(expr::COUNTER_PACKETS, &2u64.to_be_bytes());
                    });
            });
        });
        assert_eq!(rule_packets(&payload(&a)), Some(2));
        let mut none = Attrs::new();
        none.str(rule::TABLE, "t");
        assert_eq!(rule_packets(&payload(&none)), None);
    }

    #[test]
    fn dumps_ask_for_every_message() {
        let req = list_rules(9, "t", "out");
        let (header, body) = netlink::messages(&req).next().unwrap().unwrap();
        assert_eq!(header.kind, (10 << 8) | 7);
        assert_eq!(header.flags, NLM_F_REQUEST | NLM_F_DUMP);
        assert_eq!(header.seq, 9);
        assert_eq!(body[0], FAMILY_INET);
        let names: Vec<_> = netlink::attributes(&body[GENMSG_LEN..])
            .map(|a| c_string(a.unwrap().1))
            .collect();
        assert_eq!(names, ["t", "out"]);
    }
}
