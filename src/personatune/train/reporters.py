"""Training metrics to TensorBoard or MLflow, when the run asks for them and they are installed."""

from __future__ import annotations

from pathlib import Path

from personatune.errors import UserError


def make_reporters(settings, run_dir: Path) -> list:
    """Where each step's metrics also go besides metrics.jsonl (`train.report_to`: tensorboard, mlflow)."""
    reporters = []
    for name in settings.report_to:
        if name == "tensorboard":
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise UserError("report_to tensorboard needs `pip install tensorboard`") from None
            writer = SummaryWriter(str(run_dir / "tensorboard"))

            def to_tb(row, writer=writer):
                for key, value in row.items():
                    if key != "step" and isinstance(value, (int, float)):
                        writer.add_scalar(key, value, row["step"])
                writer.flush()
            reporters.append(to_tb)
        elif name == "mlflow":
            try:
                import mlflow
            except ImportError:
                raise UserError("report_to mlflow needs `pip install mlflow`") from None
            mlflow.start_run(run_name=run_dir.name)

            def to_mlflow(row, mlflow=mlflow):
                mlflow.log_metrics({k: v for k, v in row.items() if k != "step" and isinstance(v, (int, float))},
                                   step=row["step"])
            reporters.append(to_mlflow)
    return reporters
