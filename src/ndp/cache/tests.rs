//! The NUD state machine on a virtual clock: every transition, and every
//! timer at its boundary (one millisecond before: nothing; at: fired).

use super::*;
use rstest::rstest;

const IF: &str = "eth0";
const IDX: u32 = 7;
const PEER: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
const OLD: MacAddr = MacAddr(2, 0, 0, 0, 0, 2);
const NEW: MacAddr = MacAddr(2, 0, 0, 0, 0, 3);
const T0: UnixMillis = 1_700_000_000_000;

fn flags(solicited: bool, override_: bool) -> NaFlags {
    NaFlags {
        router: false,
        solicited,
        override_,
    }
}

fn drain(c: &mut Cache) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn solicits(ev: &[Event]) -> Vec<SolicitTo> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Solicit { to, .. } => Some(*to),
            _ => None,
        })
        .collect()
}

fn state(c: &Cache) -> Option<State> {
    c.lookup(IF, IDX, PEER).map(|e| e.state)
}

/// A cache with PEER REACHABLE at OLD since T0.
fn reachable() -> Cache {
    let mut c = Cache::new(1);
    c.solicit(T0, IF, IDX, PEER);
    let got = c.handle_advert(T0, (IF, IDX), PEER, flags(true, true), Some(OLD), true);
    assert_eq!(got, Learned::New);
    drain(&mut c);
    c
}

/// A cache with PEER STALE at OLD since `at`.
fn stale_at(at: UnixMillis) -> Cache {
    let mut c = reachable();
    let e = c.lookup(IF, IDX, PEER).unwrap().clone();
    c.handle_timeout(T0 + e.reachable_ms);
    assert_eq!(state(&c), Some(State::Stale));
    // Re-date it, as if it went STALE at `at`.
    c.with_entry(IF, PEER, |e| e.since_ms = at);
    drain(&mut c);
    c
}

#[test]
fn incomplete_solicits_three_times_one_second_apart_then_is_gone() {
    let mut c = Cache::new(1);
    c.solicit(T0, IF, IDX, PEER);
    assert_eq!(state(&c), Some(State::Incomplete));
    assert_eq!(solicits(&drain(&mut c)), vec![SolicitTo::Multicast]);
    for k in 1..3u64 {
        assert_eq!(c.poll_timeout(), Some(T0 + 1000 * k));
        c.handle_timeout(T0 + 1000 * k - 1);
        assert!(drain(&mut c).is_empty(), "nothing before the timer");
        c.handle_timeout(T0 + 1000 * k);
        assert_eq!(solicits(&drain(&mut c)), vec![SolicitTo::Multicast]);
    }
    c.handle_timeout(T0 + 2999);
    assert_eq!(state(&c), Some(State::Incomplete));
    c.handle_timeout(T0 + 3000);
    assert_eq!(state(&c), None);
    assert!(
        matches!(&drain(&mut c)[..], [Event::Gone { entry }] if entry.state == State::Incomplete)
    );
    assert!(
        c.changes().is_empty(),
        "an INCOMPLETE entry is never stored"
    );
}

#[rstest]
#[case::solicited_answer(true, true, Some(OLD), Learned::New, Some(State::Reachable))]
#[case::unsolicited_advert(false, true, Some(OLD), Learned::Ignored, Some(State::Incomplete))]
#[case::solicited_but_not_to_our_solicitation(
    true,
    false,
    Some(OLD),
    Learned::Ignored,
    Some(State::Incomplete)
)]
#[case::no_link_layer_address(true, true, None, Learned::Ignored, Some(State::Incomplete))]
fn only_an_answer_to_our_solicitation_completes_an_entry(
    #[case] solicited: bool,
    #[case] ours: bool,
    #[case] lladdr: Option<MacAddr>,
    #[case] want: Learned,
    #[case] after: Option<State>,
) {
    let mut c = Cache::new(1);
    c.solicit(T0, IF, IDX, PEER);
    let got = c.handle_advert(
        T0 + 5,
        (IF, IDX),
        PEER,
        flags(solicited, true),
        lladdr,
        ours,
    );
    assert_eq!(got, want);
    assert_eq!(state(&c), after);
}

#[test]
fn nothing_asked_for_creates_nothing() {
    let mut c = Cache::new(1);
    for (s, o) in [(true, true), (false, true), (true, false), (false, false)] {
        let got = c.handle_advert(T0, (IF, IDX), PEER, flags(s, o), Some(OLD), true);
        assert_eq!(got, Learned::Ignored);
    }
    assert!(c.is_empty());
}

#[test]
fn reachable_time_is_drawn_from_half_to_one_and_a_half_times_the_base() {
    let (mut lo, mut hi) = (u64::MAX, 0);
    for seed in 0..500 {
        let mut c = Cache::new(seed);
        c.solicit(T0, IF, IDX, PEER);
        c.handle_advert(T0, (IF, IDX), PEER, flags(true, false), Some(OLD), true);
        let r = c.lookup(IF, IDX, PEER).unwrap().reachable_ms;
        assert!((15_000..=45_000).contains(&r), "{r}");
        lo = lo.min(r);
        hi = hi.max(r);
    }
    assert!(lo < 17_000 && hi > 43_000, "spread {lo}..{hi}");
}

#[test]
fn reachable_goes_stale_exactly_at_reachable_time() {
    let mut c = reachable();
    let r = c.lookup(IF, IDX, PEER).unwrap().reachable_ms;
    assert_eq!(c.poll_timeout(), Some(T0 + r));
    c.handle_timeout(T0 + r - 1);
    assert_eq!(state(&c), Some(State::Reachable));
    assert_eq!(
        c.lookup(IF, IDX, PEER).unwrap().reachable_left(T0 + r - 1),
        Some(Duration::from_millis(1))
    );
    c.handle_timeout(T0 + r);
    assert_eq!(state(&c), Some(State::Stale));
    assert!(matches!(
        &drain(&mut c)[..],
        [Event::Transition {
            from: Some(State::Reachable),
            to: State::Stale,
            ..
        }]
    ));
    assert!(solicits(&drain(&mut c)).is_empty(), "STALE sends nothing");
}

#[test]
fn stale_unused_is_gone_after_its_lifetime() {
    let mut c = stale_at(T0);
    c.handle_timeout(T0 + 239_999);
    assert_eq!(state(&c), Some(State::Stale));
    c.handle_timeout(T0 + 240_000);
    assert_eq!(state(&c), None);
    assert!(c.changes().contains(&Change::Remove {
        iface: IF.into(),
        ip: PEER
    }));
}

/// The whole NUD cycle: REACHABLE → STALE → (used) DELAY → PROBE → gone,
/// with every timer at its boundary.
#[test]
fn stale_used_waits_in_delay_then_probes_by_unicast_then_is_gone() {
    let t = T0 + 100_000;
    let mut c = stale_at(t);
    c.use_entry(t, IF, PEER);
    assert_eq!(state(&c), Some(State::Delay));
    assert!(solicits(&drain(&mut c)).is_empty(), "DELAY sends nothing");
    c.handle_timeout(t + 4_999);
    assert_eq!(state(&c), Some(State::Delay));
    c.handle_timeout(t + 5_000);
    assert_eq!(state(&c), Some(State::Probe));
    assert_eq!(solicits(&drain(&mut c)), vec![SolicitTo::Unicast(OLD)]);
    let p = t + 5_000;
    for k in 1..3 {
        c.handle_timeout(p + 1000 * k - 1);
        assert!(drain(&mut c).is_empty());
        c.handle_timeout(p + 1000 * k);
        assert_eq!(solicits(&drain(&mut c)), vec![SolicitTo::Unicast(OLD)]);
    }
    c.handle_timeout(p + 2_999);
    assert_eq!(state(&c), Some(State::Probe));
    c.handle_timeout(p + 3_000);
    assert_eq!(state(&c), None);
    assert!(matches!(&drain(&mut c)[..], [Event::Gone { entry }] if entry.mac == Some(OLD)));
}

#[test]
fn probe_answered_is_reachable_again() {
    let t = T0 + 100_000;
    let mut c = stale_at(t);
    c.use_entry(t, IF, PEER);
    c.handle_timeout(t + 6_000); // PROBE, two unicast solicitations sent
    assert_eq!(state(&c), Some(State::Probe));
    let got = c.handle_advert(
        t + 6_010,
        (IF, IDX),
        PEER,
        flags(true, false),
        Some(OLD),
        true,
    );
    assert_eq!(got, Learned::Confirmed);
    assert_eq!(state(&c), Some(State::Reachable));
    assert_eq!(c.lookup(IF, IDX, PEER).unwrap().since_ms, t + 6_010);
    let ev = drain(&mut c);
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Transition {
            from: Some(State::Probe),
            to: State::Reachable,
            ..
        }
    )));
}

#[test]
fn delay_confirmed_by_an_upper_layer_never_probes() {
    let t = T0 + 100_000;
    let mut c = stale_at(t);
    c.use_entry(t, IF, PEER);
    c.confirm(t + 4_000, IF, PEER);
    assert_eq!(state(&c), Some(State::Reachable));
    c.handle_timeout(t + 5_000);
    assert!(solicits(&drain(&mut c)).is_empty());
}

#[test]
fn probe_now_skips_the_delay() {
    let t = T0 + 100_000;
    let mut c = stale_at(t);
    c.probe_now(t, IF, PEER);
    assert_eq!(state(&c), Some(State::Probe));
    assert_eq!(solicits(&drain(&mut c)), vec![SolicitTo::Unicast(OLD)]);
}

#[test]
fn using_a_reachable_entry_changes_nothing() {
    let mut c = reachable();
    c.use_entry(T0 + 1, IF, PEER);
    assert_eq!(state(&c), Some(State::Reachable));
}

/// RFC 4861 Appendix C for an existing entry, under the poisoning policy.
#[rstest]
// Same address (or none): confirmed if ours and solicited, else unchanged.
#[case::same_solicited(
    State::Stale,
    true,
    false,
    Some(OLD),
    Learned::Confirmed,
    State::Reachable,
    OLD
)]
#[case::none_solicited(
    State::Stale,
    true,
    false,
    None,
    Learned::Confirmed,
    State::Reachable,
    OLD
)]
#[case::same_unsolicited(
    State::Stale,
    false,
    false,
    Some(OLD),
    Learned::Confirmed,
    State::Stale,
    OLD
)]
#[case::same_unsolicited_reachable(
    State::Reachable,
    false,
    true,
    Some(OLD),
    Learned::Confirmed,
    State::Reachable,
    OLD
)]
// Another address with O=1: replaced; REACHABLE if solicited, else STALE.
#[case::other_override_solicited(State::Stale, true, true, Some(NEW), Learned::Conflict { previous: OLD, replaced: true }, State::Reachable, NEW)]
#[case::other_override_unsolicited(State::Reachable, false, true, Some(NEW), Learned::Conflict { previous: OLD, replaced: true }, State::Stale, NEW)]
// Another address with O=0: kept; a REACHABLE entry is demoted.
#[case::other_no_override_reachable(State::Reachable, true, false, Some(NEW), Learned::Conflict { previous: OLD, replaced: false }, State::Stale, OLD)]
#[case::other_no_override_stale(State::Stale, false, false, Some(NEW), Learned::Conflict { previous: OLD, replaced: false }, State::Stale, OLD)]
fn advertisements_about_an_existing_entry(
    #[case] before: State,
    #[case] solicited: bool,
    #[case] override_: bool,
    #[case] lladdr: Option<MacAddr>,
    #[case] want: Learned,
    #[case] after: State,
    #[case] mac: MacAddr,
) {
    let mut c = if before == State::Reachable {
        reachable()
    } else {
        stale_at(T0 + 50_000)
    };
    let now = T0 + 60_000;
    if before == State::Reachable {
        c.with_entry(IF, PEER, |e| e.since_ms = now - 1);
    }
    let got = c.handle_advert(
        now,
        (IF, IDX),
        PEER,
        flags(solicited, override_),
        lladdr,
        true,
    );
    assert_eq!(got, want);
    let e = c.lookup(IF, IDX, PEER).unwrap();
    assert_eq!((e.state, e.mac), (after, Some(mac)));
}

#[test]
fn solicited_flag_without_our_solicitation_counts_as_unsolicited() {
    let mut c = stale_at(T0 + 50_000);
    let got = c.handle_advert(
        T0 + 60_000,
        (IF, IDX),
        PEER,
        flags(true, true),
        Some(NEW),
        false,
    );
    assert_eq!(
        got,
        Learned::Conflict {
            previous: OLD,
            replaced: true
        }
    );
    assert_eq!(
        state(&c),
        Some(State::Stale),
        "not REACHABLE: we asked nothing"
    );
}

#[test]
fn an_entry_from_a_recreated_interface_is_never_used() {
    let mut c = reachable();
    assert!(c.lookup(IF, IDX + 1, PEER).is_none());
    let got = c.handle_advert(T0, (IF, IDX + 1), PEER, flags(true, true), Some(NEW), true);
    assert_eq!(got, Learned::Ignored);
    c.solicit(T0 + 1, IF, IDX + 1, PEER);
    assert_eq!(
        c.lookup(IF, IDX + 1, PEER).unwrap().state,
        State::Incomplete
    );
}

#[test]
fn storage_keeps_reachable_and_stale_and_reads_delay_and_probe_as_stale() {
    let t = T0 + 100_000;
    let mut c = stale_at(t);
    c.use_entry(t, IF, PEER);
    let other = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9);
    c.solicit(t, IF, IDX, other);
    let stored = c.stored_entries();
    assert_eq!(stored.len(), 1, "INCOMPLETE is not stored");
    assert_eq!(stored[0].state, State::Stale, "DELAY is stored as STALE");
    let text = serde_json::to_string(&stored[0]).unwrap();
    assert!(text.contains("\"state\":\"STALE\""), "{text}");
    assert!(text.contains("\"02:00:00:00:00:02\""), "{text}");
    let back = Cache::from_stored(serde_json::from_str(&format!("[{text}]")).unwrap(), 3);
    assert_eq!(back.lookup(IF, IDX, PEER).unwrap().state, State::Stale);
    assert!(back.changes().is_empty());
}

#[test]
fn stored_incomplete_or_addressless_entries_are_dropped_on_load() {
    let json = r#"[{"iface":"eth0","ifindex":7,"ip":"fe80::2","mac":null,"state":"REACHABLE","since_ms":1,"reachable_ms":30000},
                   {"iface":"eth0","ifindex":7,"ip":"fe80::3","mac":"02:00:00:00:00:03","state":"INCOMPLETE","since_ms":1,"reachable_ms":0}]"#;
    let c = Cache::from_stored(serde_json::from_str(json).unwrap(), 1);
    assert!(c.is_empty());
}

#[test]
fn a_loaded_entry_ages_on_the_first_timeout() {
    let mut c = reachable();
    let stored = c.stored_entries();
    let mut back = Cache::from_stored(stored, 2);
    back.handle_timeout(T0 + 60_000);
    assert_eq!(back.lookup(IF, IDX, PEER).unwrap().state, State::Stale);
    back.handle_timeout(T0 + 10 * 60_000);
    assert!(back.is_empty());
    drain(&mut c);
}

#[test]
fn changes_replay_and_flush() {
    let c = reachable();
    let mut other = Cache::new(5);
    other.apply(c.changes());
    assert_eq!(other.lookup(IF, IDX, PEER).unwrap().mac, Some(OLD));
    let mut f = Cache::new(6);
    f.flush();
    other.apply(f.changes());
    assert!(other.is_empty());
}

#[test]
fn a_reachable_entry_from_the_future_is_not_trusted() {
    let mut c = reachable();
    // The clock moved back a minute since the entry was confirmed.
    c.handle_timeout(T0 - 60_000);
    assert_eq!(state(&c), Some(State::Stale));
    assert_eq!(c.lookup(IF, IDX, PEER).unwrap().since_ms, T0 - 60_000);
}

/// The cache file is read back as it was found: dates and times at the
/// end of `u64` (a corrupt or hand-edited file) must neither panic nor
/// wrap round to a deadline long past.
#[rstest]
#[case::stale_dated_at_the_end_of_time(State::Stale, u64::MAX, 0)]
#[case::reachable_dated_at_the_end_of_time(State::Reachable, u64::MAX - 1, 30_000)]
#[case::reachable_for_ever(State::Reachable, T0, u64::MAX)]
fn stored_times_at_the_end_of_u64_do_not_overflow(
    #[case] st: State,
    #[case] since_ms: UnixMillis,
    #[case] reachable_ms: u64,
) {
    let entry = Entry {
        iface: IF.into(),
        ifindex: IDX,
        ip: PEER,
        mac: Some(OLD),
        state: st,
        since_ms,
        reachable_ms,
        router: false,
        solicits: 0,
    };
    let mut c = Cache::from_stored(vec![entry], 1);
    let _ = c.lookup(IF, IDX, PEER).unwrap().reachable_left(T0);
    assert!(c.poll_timeout().is_some_and(|t| t > T0));
    c.handle_timeout(T0 + 1);
    let _ = c.poll_timeout();
    assert!(c.lookup(IF, IDX, PEER).is_some(), "nothing is due yet");
}

/// RFC 4861 §7.2.5: an advertisement that may update the entry (O=1, the
/// same address, or none) sets IsRouter from its R flag, solicited or
/// not; one that may not (O=0, another address) leaves it.
#[rstest]
#[case::unsolicited_same_address(false, false, Some(OLD), true)]
#[case::unsolicited_no_address(false, false, None, true)]
#[case::solicited_same_address(true, false, Some(OLD), true)]
#[case::override_another_address(false, true, Some(NEW), true)]
#[case::no_override_another_address(false, false, Some(NEW), false)]
fn the_router_flag_follows_an_advertisement_that_may_update(
    #[case] solicited: bool,
    #[case] override_: bool,
    #[case] lladdr: Option<MacAddr>,
    #[case] router: bool,
) {
    let mut c = reachable();
    let f = NaFlags {
        router: true,
        solicited,
        override_,
    };
    c.handle_advert(T0 + 10, (IF, IDX), PEER, f, lladdr, solicited);
    assert_eq!(c.lookup(IF, IDX, PEER).unwrap().router, router);
}
