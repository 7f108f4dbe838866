"""Training: :class:`Trainer`, callbacks, metrics, checkpoints and curve plots."""
from .callbacks import (
                        Callback,
                        Checkpoint,
                        CurvePlot,
                        EarlyStopping,
                        GradientMonitorCallback,
                        MetricsLogger,
                        ProgressBar,
                        read_metrics,
)
from .checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from .metrics import accuracy, topk_accuracy
from .plots import plot_curves
from .task import Step, SupervisedTask, Task
from .tensorboard import TensorBoard
from .trainer import NonFiniteLossError, Trainer

__all__ = ["Callback", "Checkpoint", "CurvePlot", "EarlyStopping", "GradientMonitorCallback",
           "MetricsLogger", "NonFiniteLossError", "ProgressBar", "Trainer", "accuracy",
           "load_checkpoint", "plot_curves", "read_checkpoint", "read_metrics",
           "save_checkpoint", "Step", "SupervisedTask", "Task", "topk_accuracy"]
__all__ += ["TensorBoard"]
