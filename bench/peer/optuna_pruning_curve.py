#!/usr/bin/python3
"""Loss against epochs for Optuna's pruners on workload 3.

The shared pruning.py reports totals only. This runs the same studies
(same study names, sampler, pruners and cost accounting, imported from that
directory) and also records, after every epoch, the best epoch-100 loss
among the trials completed so far. It prints one JSON line shaped like
tunelua's bench/peer/pruning.lua: results[pruner].loss_against_epochs.

    /usr/bin/python3 bench/peer/optuna_pruning_curve.py OPTUNA_BENCH_DIR [--seeds 10]
"""
import argparse
import json
import statistics
import sys

BUDGETS = [1000, 2000, 4000, 8000, 12000, 16000, 20000]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench_dir")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=200)
    args = ap.parse_args()
    sys.path.insert(0, args.bench_dir)
    import optuna
    import pruning
    from common import MAX_EPOCH, curve_loss, lr_index

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results = {}
    for name, make in pruning.PRUNERS.items():
        per_seed = []
        for seed in range(args.seeds):
            state = {"epochs": 0, "best": None, "trace": []}

            def objective(trial):
                lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
                width = trial.suggest_int("width", 16, 512, log=True)
                k = lr_index(lr)
                loss = None
                for t in range(1, MAX_EPOCH + 1):
                    loss = curve_loss(k, width, t)
                    state["epochs"] += 1
                    trial.report(loss, t)
                    if trial.should_prune():
                        raise optuna.TrialPruned()
                if state["best"] is None or loss < state["best"]:
                    state["best"] = loss
                    state["trace"].append((state["epochs"], loss))
                return loss

            study = optuna.create_study(direction="minimize",
                                        study_name=f"pruning-{name}-seed{seed}",
                                        sampler=optuna.samplers.RandomSampler(seed=seed),
                                        pruner=make())
            study.optimize(objective, n_trials=args.trials)
            at = []
            for b in BUDGETS:
                v = None
                for e, loss in state["trace"]:
                    if e <= b:
                        v = loss
                at.append(v)
            per_seed.append({"epochs": state["epochs"], "best_final_loss": state["best"],
                             "best_loss_at_epochs": at})
        curve = []
        for i, b in enumerate(BUDGETS):
            vals = [s["best_loss_at_epochs"][i] for s in per_seed]
            med = statistics.median(vals) if all(v is not None for v in vals) else None
            curve.append({"epochs": b, "best_final_loss_median": med})
        results[name] = {"per_seed": per_seed, "loss_against_epochs": curve}
        print(f"{name}: {[c['best_final_loss_median'] for c in curve]}", file=sys.stderr)
    print(json.dumps({"bench": "pruning_curve", "tuner": "optuna", "seeds": args.seeds,
                      "budgets": BUDGETS, "results": results}))


if __name__ == "__main__":
    main()
