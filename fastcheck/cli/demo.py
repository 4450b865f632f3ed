"""``fastcheck demo``: the Neural Networks Demystified network checked, correct and with a planted bug."""
from __future__ import annotations

DEMO_MUTANT = "activation_derivative"


def register(sub) -> None:
    from fastcheck.cli import add_parser
    from fastcheck.models import MUTANTS

    p = add_parser(
        sub,
        "demo",
        help="check the 2-3-1 network of Neural Networks Demystified, correct and with a wrong sigmoid derivative",
        description="Check the 2-3-1 sigmoid network of Neural Networks Demystified (inputs [[3,5],[5,1],[10,2]] scaled by column max, "
        "targets [75,82,93]/100, cost 0.5·Σ(y−ŷ)²) with its correct backprop and with a planted bug, "
        "and print both reports; then the error of each scheme against eps on the same network.",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the network's initial weights")
    p.add_argument("--mutant", default=DEMO_MUTANT, choices=sorted(MUTANTS), metavar="MUTANT",
                   help="the planted bug: " + ", ".join(sorted(MUTANTS)) + f" (default: {DEMO_MUTANT})")
    p.add_argument("--no-sweep", action="store_true", help="skip the error-vs-eps study of the same network")
    p.add_argument("--report", default=None, metavar="DIR",
                   help="also write the eps study's report (results.parquet/csv, plot, README.md) into DIR")
    p.set_defaults(func=run)


def run(args) -> int:
    from fastcheck.checks.model import check_model
    from fastcheck.cli.check import refuse_hidden_mutant
    from fastcheck.cli.render import Terminal, print_result
    from fastcheck.models import MUTANTS, tutorial_network

    console = Terminal()
    model, theta, X, y = tutorial_network(seed=args.seed)
    refuse_hidden_mutant(args.mutant, model, len(X), "the demo's network (2-3-1, sigmoid, sse, no biases)")
    console.rule("the 2-3-1 network of Neural Networks Demystified, correct backprop")
    good = check_model(model, theta, X, y)
    print_result(good, title="correct", console=console)
    console.rule(f"the same network with a planted bug: {args.mutant}")
    console.print(f"[dim]{MUTANTS[args.mutant].description}[/]")
    bad = check_model(model.mutant(args.mutant), theta, X, y)
    print_result(bad, title="broken", console=console)
    ok = good.passed and not bad.passed
    if not args.no_sweep:
        _eps_study(console, args.report)
    console.rule()
    console.print(
        "demo: the check "
        + ("[green]passes the correct network and catches the bug[/]" if ok else "[red]did not behave as expected[/]")
    )
    return 0 if ok else 1


def _eps_study(console, report_dir) -> None:
    """Error vs ε of the NumPy network of Neural Networks Demystified: fitted orders and the best step."""
    from fastcheck.cli.render import print_table
    from fastcheck.sweep import eps_sweep, fit_notes, fit_orders

    console.rule("how good is the check itself? error vs eps on the same network")
    df = eps_sweep("tutorial-numpy", schemes=("forward", "central", "central4", "complex"), dtypes=("float64", "float32"))
    fits = fit_orders(df)
    cols = {"scheme": "scheme", "dtype": "dtype", "order": "order", "truncation_slope": "slope",
            "roundoff_slope": "round-off", "best_eps": "best eps", "floor": "floor"}
    print_table(console, fits[list(cols)].rename(columns=cols),
                f"{df['eps'].nunique()} steps from 1 to 1e-14; slopes of log error vs log eps", verdict_col=None)
    console.print(
        "[dim]truncation slopes ≈ 1 (forward), 2 (central), 4 (central4); round-off slope ≈ −1; "
        "the complex step has no round-off branch. float32 loses about half the digits.[/]"
    )
    for line in fit_notes(fits):  # why a slope shows as –
        console.print(f"[dim]– {line}[/]")
    if report_dir:
        from fastcheck.report import write_report

        files = write_report(report_dir, df, {"command": "fastcheck demo --report " + str(report_dir)},
                             title="error vs eps: the Neural Networks Demystified network")
        console.print(f"report written: {', '.join(str(f) for f in files)}")
