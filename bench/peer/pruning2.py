#!/usr/bin/python3
"""Optuna's side of the second pruning workload (power-law curves).

bench/peer/workloads.lua's curve2_loss, computed the same way here (same
operations in the same order, libm's pow and log2), on workload 3's space
and sampler: lr log-uniform on [1e-4, 1e-1] snapped to the 1/1000-decade
grid, width an integer on a log scale in [16, 512], 200 trials, 100 epochs,
one cost unit per computed epoch. Prints one JSON line shaped like
bench/peer/optuna-side/pruning.py's.

    /usr/bin/python3 bench/peer/pruning2.py [--seeds 40] [--first 0]
                                            [--pruners none,hyperband]
    /usr/bin/python3 bench/peer/pruning2.py --vectors   (reference values)
"""
import argparse
import json
import math
import statistics
import time

MASK64 = (1 << 64) - 1


def splitmix64(x):
    z = (x + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def lr_index(lr):
    k = math.floor(1000.0 * (math.log10(lr) + 4.0) + 0.5)
    return min(max(k, 0), 3000)


def curve2_loss(k, width, t):
    a = -4.0 + k / 1000.0
    w = math.log2(width)
    a_opt = -2.6 + 0.3 * (w - 6.5)
    d = a - a_opt
    u = max(0.0, 6.0 - w)
    floor = 0.12 + 0.25 * (d * d) + 0.015 * (u * u)
    tau = 8.0 * math.pow(10.0, -(a + 2.5))
    beta = 0.6 + 0.1 * (w - 6.5)
    drift = 0.0008 * max(0.0, a + 2.0)
    h = splitmix64((k * 1024 + width) * 128 + t + 0x5EED)
    noise = 0.015 * (2.0 * ((h >> 11) * (2.0 ** -53)) - 1.0)
    return floor + (3.0 - floor) * math.pow(1.0 + t / tau, -beta) + drift * t + noise


def pruners():
    import optuna
    return {
        "none": lambda: optuna.pruners.NopPruner(),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=1, max_resource=100,
                                                            reduction_factor=3),
    }


def run_study(name, seed, n_trials):
    import optuna
    epochs = [0]

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        width = trial.suggest_int("width", 16, 512, log=True)
        k = lr_index(lr)
        loss = None
        for t in range(1, 101):
            loss = curve2_loss(k, width, t)
            epochs[0] += 1
            trial.report(loss, t)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return loss

    study = optuna.create_study(direction="minimize", study_name=f"pruning2-{name}-seed{seed}",
                                sampler=optuna.samplers.RandomSampler(seed=seed), pruner=pruners()[name]())
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=n_trials)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return {"seed": seed, "epochs": epochs[0], "best_final_loss": min(t.value for t in done),
            "n_complete": len(done), "seconds": time.perf_counter() - t0}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--pruners", default="none,hyperband")
    ap.add_argument("--vectors", action="store_true")
    args = ap.parse_args()
    if args.vectors:
        for k, width, t in [(0, 16, 1), (1917, 125, 100), (3000, 512, 50), (1500, 64, 7), (2400, 300, 100)]:
            print(k, width, t, repr(curve2_loss(k, width, t)))
        return
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results = {}
    for name in args.pruners.split(","):
        per_seed = [run_study(name, s, args.trials) for s in range(args.first, args.first + args.seeds)]
        results[name] = {"epochs_median": statistics.median(r["epochs"] for r in per_seed),
                         "best_final_loss_median": statistics.median(r["best_final_loss"] for r in per_seed),
                         "per_seed": per_seed}
    print(json.dumps({"bench": "pruning2", "tuner": "optuna", "optuna": optuna.__version__,
                      "trials": args.trials, "results": results}))


if __name__ == "__main__":
    main()
