//! `nettool impair` (hidden): the impairment relay, for fault-injection tests.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::Env;
use crate::cli::ImpairArgs;
use crate::impair::{self, Config, Faults, run};
use crate::outcome::Outcome;

/// The relay's configuration.
pub fn config(args: &ImpairArgs) -> Config {
    let faults = |i: usize| Faults {
        loss: args.loss[i],
        dup: args.dup[i],
        reorder: args.reorder[i],
        corrupt: args.corrupt[i],
        delay: args.delay[i],
    };
    Config {
        seed: args.seed,
        faults: [faults(0), faults(1)],
        reorder_after: args.reorder_after,
        reorder_hold: args.reorder_hold,
        blackhole_after: args.blackhole_after,
        blackhole_for: args.blackhole_for,
        blackhole_all: args.blackhole_all,
    }
}

pub fn run(args: ImpairArgs, env: &mut Env) -> anyhow::Result<Outcome> {
    let toggle = Arc::new(AtomicBool::new(false));
    let dump = Arc::new(AtomicBool::new(false));
    for (signal, flag) in [
        (signal_hook::consts::SIGUSR1, &toggle),
        (signal_hook::consts::SIGUSR2, &dump),
    ] {
        signal_hook::flag::register(signal, Arc::clone(flag))?;
    }
    let opts = run::Options {
        left: args.left.clone(),
        right: args.right.clone(),
        config: config(&args),
        stats: args.stats.clone(),
        trace: args.trace.clone(),
        keep_offloads: args.keep_offloads,
    };
    let signals = run::Signals {
        stop: env.interrupt,
        toggle: &toggle,
        dump: &dump,
    };
    let stats: impair::Stats = run::run(&opts, signals, env.err)?;
    write!(env.out, "{}", stats.render())?;
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::time::Duration;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: ImpairArgs,
    }

    fn parse(args: &[String]) -> Config {
        let mut argv = vec!["x", "--left", "l", "--right", "r"];
        argv.extend(args.iter().map(String::as_str));
        config(&Wrap::try_parse_from(argv).unwrap().args)
    }

    #[test]
    fn a_config_survives_its_own_command_line() {
        let mut config = Config::both(Faults {
            loss: 0.02,
            dup: 0.02,
            reorder: 0.05,
            corrupt: 0.01,
            delay: Duration::from_millis(1),
        });
        config.seed = 99;
        config.faults[1].loss = 0.0;
        config.faults[1].delay = Duration::ZERO;
        config.blackhole_after = Some(Duration::from_millis(1500));
        config.blackhole_for = Some(Duration::from_secs(3));
        config.blackhole_all = true;
        config.reorder_after = 5;
        assert_eq!(parse(&config.to_args()), config);
        assert_eq!(parse(&Config::default().to_args()), Config::default());
    }

    #[test]
    fn per_direction_values_and_percentages() {
        let c = parse(&[
            "--loss".into(),
            "2%/0".into(),
            "--delay".into(),
            "5ms".into(),
        ]);
        assert_eq!(c.faults[0].loss, 0.02);
        assert_eq!(c.faults[1].loss, 0.0);
        assert_eq!(c.faults[1].delay, Duration::from_millis(5));
    }
}
