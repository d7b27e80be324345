"""Issue 13's search-quality study, Optuna's side (see quality11.lua): Optuna's
TPESampler (its defaults; constant_liar=True with two pending trials) on the
same eleven functions, the same seeds and settings, through ask/tell.
  /usr/bin/python3 bench/peer/quality11.py [--seeds 30] [--first 0] [--trials 100] > optuna_quality11.json
"""
import argparse
import json
import math
import sys
import time

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
pi = math.pi


def branin(x):
    a, b, c, r, s, t = 1, 5.1 / (4 * pi * pi), 5 / pi, 6, 10, 1 / (8 * pi)
    u = x[1] - b * x[0] * x[0] + c * x[0] - r
    return a * u * u + s * (1 - t) * math.cos(x[0]) + s


def hartmann(x, alpha, A, P):
    total = 0.0
    for i in range(4):
        inner = 0.0
        for j in range(len(x)):
            d = x[j] - P[i][j]
            inner += A[i][j] * (d * d)
        total += alpha[i] * math.exp(-inner)
    return -total


H6 = ([1.0, 1.2, 3.0, 3.2],
      [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]],
      [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
       [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]])
H3 = ([1.0, 1.2, 3.0, 3.2],
      [[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]],
      [[0.3689, 0.1170, 0.2673], [0.4699, 0.4387, 0.7470], [0.1091, 0.8732, 0.5547], [0.0381, 0.5743, 0.8828]])


def rosenbrock(x):
    s = 0.0
    for i in range(3):
        a, b = x[i + 1] - x[i] * x[i], 1 - x[i]
        s += 100 * (a * a) + b * b
    return s


def ackley(x):
    d = 5
    sq = sum(v * v for v in x)
    cs = sum(math.cos(2 * pi * v) for v in x)
    return -20 * math.exp(-0.2 * math.sqrt(sq / d)) - math.exp(cs / d) + 20 + math.exp(1)


def camel(x):
    a, b = x
    a2, b2 = a * a, b * b
    return (4 - 2.1 * a2 + a2 * a2 / 3) * a2 + a * b + (-4 + 4 * b2) * b2


def goldstein_price(x):
    a, b = x
    s, t = a + b + 1, 2 * a - 3 * b
    p = 1 + s * s * (19 - 14 * a + 3 * a * a - 14 * b + 6 * a * b + 3 * b * b)
    q = 30 + t * t * (18 - 32 * a + 12 * a * a + 48 * b - 36 * a * b + 27 * b * b)
    return p * q


def rastrigin(x):
    return 10 * 4 + sum(v * v - 10 * math.cos(2 * pi * v) for v in x)


def griewank(x):
    s, p = 0.0, 1.0
    for i, v in enumerate(x):
        s += v * v / 4000
        p *= math.cos(v / math.sqrt(i + 1))
    return s - p + 1


def michalewicz(x):
    return -sum(math.sin(v) * math.sin((i + 1) * v * v / pi) ** 20 for i, v in enumerate(x))


def dixon_price(x):
    s = (x[0] - 1) * (x[0] - 1)
    for i in range(1, 6):
        t = 2 * x[i] * x[i] - x[i - 1]
        s += (i + 1) * t * t
    return s


FUNCTIONS = {
    "branin": (branin, [(-5, 10), (0, 15)], 0.39788735772973816),
    "camel6": (camel, [(-3, 3), (-2, 2)], -1.0316284534898774),
    "goldstein_price": (goldstein_price, [(-2, 2), (-2, 2)], 3),
    "hartmann3": (lambda x: hartmann(x, *H3), [(0, 1)] * 3, -3.862779787332663),
    "hartmann6": (lambda x: hartmann(x, *H6), [(0, 1)] * 6, -3.3223680114155147),
    "rosenbrock4": (rosenbrock, [(-5, 10)] * 4, 0),
    "ackley5": (ackley, [(-32.768, 32.768)] * 5, 0),
    "rastrigin4": (rastrigin, [(-5.12, 5.12)] * 4, 0),
    "griewank5": (griewank, [(-600, 600)] * 5, 0),
    "michalewicz5": (michalewicz, [(0, pi)] * 5, -4.687658179088149),
    "dixon_price6": (dixon_price, [(-10, 10)] * 6, 0),
}
NAMES = ["branin", "camel6", "goldstein_price", "hartmann3", "hartmann6", "rosenbrock4", "ackley5", "rastrigin4",
         "griewank5", "michalewicz5", "dixon_price6"]
BUDGETS = [60, 100]


def run(fname, setting, seed, trials):
    f, bounds, f_min = FUNCTIONS[fname]
    sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=(setting == "conc2"))
    study = optuna.create_study(sampler=sampler, direction="minimize")
    depth = 2 if setting == "conc2" else 1
    pending, best, regret, asked = [], math.inf, [], 0
    while len(regret) < trials:
        while len(pending) < depth and asked < trials:
            asked += 1
            t = study.ask()
            x = [t.suggest_float("x%d" % d, lo, hi) for d, (lo, hi) in enumerate(bounds)]
            pending.append((t, x))
        t, x = pending.pop(0)
        v = f(x)
        study.tell(t, v)
        best = min(best, v)
        regret.append(best - f_min)
    return {str(b): regret[b - 1] for b in BUDGETS}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--functions", default=",".join(NAMES))
    a = ap.parse_args()
    t0 = time.time()
    results = {}
    for fname in a.functions.split(","):
        results[fname] = {}
        for setting in ("seq", "conc2"):
            per = {str(b): [] for b in BUDGETS}
            for seed in range(a.first, a.first + a.seeds):
                r = run(fname, setting, seed, a.trials)
                for b in per:
                    per[b].append(r[b])
            results[fname][setting] = per
            print("%-16s %-5s done (%.1f s)" % (fname, setting, time.time() - t0), file=sys.stderr)
    print(json.dumps({"bench": "quality11", "tuner": "optuna", "optuna": optuna.__version__, "seeds": a.seeds, "first": a.first,
                      "trials": a.trials, "wall_s": time.time() - t0, "results": results}))


if __name__ == "__main__":
    main()
