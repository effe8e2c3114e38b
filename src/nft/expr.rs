//! The nf_tables expressions a rule is made of, and their attributes.
//!
//! A rule is a little program over registers: loads (`meta`, `payload`)
//! put packet data into a register, `cmp` and `bitwise` test and mask it
//! (a failed `cmp` ends the rule), `counter` counts what got that far,
//! `log` hands it to an nfnetlink_log group, and `immediate` sets the
//! verdict. [`Expr`]'s `Display` follows
//! `nft --debug=netlink`, so a rule can be compared with what nft makes
//! of the same text.

use std::fmt;

use super::Attrs;

/// `NFT_REG_VERDICT` and `NFT_REG_1` (16 bytes, as nft uses it).
const REG_VERDICT: u32 = 0;
pub const REG_1: u32 = 1;

// Attribute numbers, each expression's own enum in nf_tables.h.
const META_DREG: u16 = 1;
const META_KEY: u16 = 2;
const PAYLOAD_DREG: u16 = 1;
const PAYLOAD_BASE: u16 = 2;
const PAYLOAD_OFFSET: u16 = 3;
const PAYLOAD_LEN: u16 = 4;
const CMP_SREG: u16 = 1;
const CMP_OP: u16 = 2;
const CMP_DATA: u16 = 3;
const BITWISE_SREG: u16 = 1;
const BITWISE_DREG: u16 = 2;
const BITWISE_LEN: u16 = 3;
const BITWISE_MASK: u16 = 4;
const BITWISE_XOR: u16 = 5;
const IMMEDIATE_DREG: u16 = 1;
const IMMEDIATE_DATA: u16 = 2;
pub const COUNTER_PACKETS: u16 = 2;
/// `NFTA_LOG_GROUP`: the nfnetlink_log group a `log` sends packets to.
const LOG_GROUP: u16 = 1;
/// `NFTA_DATA_VALUE`, `NFTA_DATA_VERDICT`, `NFTA_VERDICT_CODE`.
const DATA_VALUE: u16 = 1;
const DATA_VERDICT: u16 = 2;
const VERDICT_CODE: u16 = 1;

/// What a `meta` expression loads (`enum nft_meta_keys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaKey {
    /// The frame's protocol (`skb->protocol`, the EtherType: `ETH_P_IP`
    /// ...), two bytes big-endian. In a `netdev` table, where
    /// `nfproto` is the hook's family, this tells IPv4 from IPv6.
    Protocol = 1,
    /// The packet's mark (`skb->mark`), a host-order u32.
    Mark = 3,
    /// The family the packet is (`NFPROTO_IPV4`...), one byte.
    NfProto = 15,
    /// The transport protocol (`IPPROTO_TCP`...), one byte.
    L4Proto = 16,
}

/// Where a `payload` offset counts from (`enum nft_payload_bases`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    Network = 1,
    Transport = 2,
}

/// A comparison (`enum nft_cmp_ops`); data compares as bytes, so ranges of
/// big-endian fields compare as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq = 0,
    Neq = 1,
    Lte = 3,
    Gte = 5,
}

/// A verdict (`NF_DROP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Drop = 0,
}

/// One expression of a rule, all on register 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Meta(MetaKey),
    Payload {
        base: Base,
        offset: u32,
        len: u32,
    },
    Cmp {
        op: CmpOp,
        data: Vec<u8>,
    },
    /// `reg = (reg & mask) ^ xor`, over `mask.len()` bytes.
    Bitwise {
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    Counter,
    /// Each packet that gets this far is sent to the nfnetlink_log group
    /// (its headers only: the group's socket sets how much).
    Log {
        group: u16,
    },
    Verdict(Verdict),
}

impl Expr {
    /// The expression's name, as the kernel knows it.
    pub fn name(&self) -> &'static str {
        match self {
            Expr::Meta(_) => "meta",
            Expr::Payload { .. } => "payload",
            Expr::Cmp { .. } => "cmp",
            Expr::Bitwise { .. } => "bitwise",
            Expr::Counter => "counter",
            Expr::Log { .. } => "log",
            Expr::Verdict(_) => "immediate",
        }
    }

    /// Writes the expression's name and data (`NFTA_EXPR_*`).
    pub fn write(&self, a: &mut Attrs) {
        a.str(super::rule::EXPR_NAME, self.name());
        if *self == Expr::Counter {
            // No data: a counter starts at zero.
            return;
        }
        a.nested(super::rule::EXPR_DATA, |d| match self {
            Expr::Meta(key) => {
                d.u32(META_DREG, REG_1).u32(META_KEY, *key as u32);
            }
            Expr::Payload { base, offset, len } => {
                d.u32(PAYLOAD_DREG, REG_1)
                    .u32(PAYLOAD_BASE, *base as u32)
                    .u32(PAYLOAD_OFFSET, *offset)
                    .u32(PAYLOAD_LEN, *len);
            }
            Expr::Cmp { op, data } => {
                d.u32(CMP_SREG, REG_1)
                    .u32(CMP_OP, *op as u32)
                    .nested(CMP_DATA, |v| {
                        v.bytes(DATA_VALUE, data);
                    });
            }
            Expr::Bitwise { mask, xor } => {
                d.u32(BITWISE_SREG, REG_1)
                    .u32(BITWISE_DREG, REG_1)
                    .u32(BITWISE_LEN, mask.len() as u32)
                    .nested(BITWISE_MASK, |v| {
                        v.bytes(DATA_VALUE, mask);
                    })
                    .nested(BITWISE_XOR, |v| {
                        v.bytes(DATA_VALUE, xor);
                    });
            }
            Expr::Log { group } => {
                d.bytes(LOG_GROUP, &group.to_be_bytes());
            }
            Expr::Verdict(verdict) => {
                d.u32(IMMEDIATE_DREG, REG_VERDICT)
                    .nested(IMMEDIATE_DATA, |v| {
                        v.nested(DATA_VERDICT, |c| {
                            c.u32(VERDICT_CODE, *verdict as u32);
                        });
                    });
            }
            Expr::Counter => unreachable!("written above"),
        });
    }
}

/// Register data as `nft --debug=netlink` prints it: 32-bit words of the
/// bytes in host order, zero-padded.
struct Words<'a>(&'a [u8]);

impl fmt::Display for Words<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, chunk) in self.0.chunks(4).enumerate() {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "0x{:08x}", u32::from_ne_bytes(word))?;
        }
        Ok(())
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Meta(key) => {
                let key = match key {
                    MetaKey::Protocol => "protocol",
                    MetaKey::Mark => "mark",
                    MetaKey::NfProto => "nfproto",
                    MetaKey::L4Proto => "l4proto",
                };
                write!(f, "[ meta load {key} => reg 1 ]")
            }
            Expr::Payload { base, offset, len } => {
                let base = match base {
                    Base::Network => "network",
                    Base::Transport => "transport",
                };
                write!(
                    f,
                    "[ payload load {len}b @ {base} header + {offset} => reg 1 ]"
                )
            }
            Expr::Cmp { op, data } => {
                let op = match op {
                    CmpOp::Eq => "eq",
                    CmpOp::Neq => "neq",
                    CmpOp::Lte => "lte",
                    CmpOp::Gte => "gte",
                };
                write!(f, "[ cmp {op} reg 1 {} ]", Words(data))
            }
            Expr::Bitwise { mask, xor } => write!(
                f,
                "[ bitwise reg 1 = ( reg 1 & {} ) ^ {} ]",
                Words(mask),
                Words(xor)
            ),
            Expr::Counter => write!(f, "[ counter pkts 0 bytes 0 ]"),
            Expr::Log { group } => {
                write!(f, "[ log group {group} snaplen 0 qthreshold 0 ]")
            }
            Expr::Verdict(Verdict::Drop) => write!(f, "[ immediate reg 0 drop ]"),
        }
    }
}
