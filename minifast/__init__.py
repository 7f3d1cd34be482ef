"""minifast: a small, readable, pure-PyTorch deep-learning framework in the spirit of the fastai course.

`from minifast import *` gives the names the course notebooks use.
"""
from .callback import (
    EVENTS,
    Callback,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelStepException,
    CancelTrainException,
    CancelValidException,
)
from .callbacks.train_eval import TrainEval, TrainEvalCallback
from .callbacks.progress import ProgressBar, ProgressCallback
from .callbacks.recorder import Recorder
from .data import DataBunch
from .data.samples import mnist_sample_data
from .learner import Learner
from .loop import Loop
from .messages import MinifastWarning
from .metrics import accuracy, accuracy_thresh, error_rate
from .torch_utils import default_device

__version__ = "0.2.0"

__all__ = [
    "EVENTS", "Callback", "CancelBatchException", "CancelEpochException", "CancelFitException",
    "CancelStepException", "CancelTrainException", "CancelValidException", "TrainEval",
    "ProgressBar", "TrainEvalCallback", "ProgressCallback",
    "Recorder", "DataBunch", "Learner", "Loop", "accuracy", "accuracy_thresh", "error_rate",
    "default_device", "mnist_sample_data", "MinifastWarning",
]

# Each area of the library adds its public names below its own marker line.
# --- schedules and the LR finder (schedule.py)
from .lr_finder import LRFinder, SuggestedLRs, lr_suggestions
from .schedule import (
    SGDR, OneCycle, ParamScheduler, combine_scheds, sched_cos, sched_exp, sched_lin, sched_no,
    sgdr_n_epochs,
)
from .schedule_preview import plot_schedule, preview_fit, preview_one_cycle, schedule_values

__all__ += ["SGDR", "LRFinder", "SuggestedLRs", "OneCycle", "ParamScheduler", "combine_scheds",
            "lr_suggestions",
            "sched_cos", "sched_exp", "sched_lin", "sched_no", "sgdr_n_epochs", "plot_schedule",
            "preview_fit", "preview_one_cycle", "schedule_values"]
# --- training controls (callbacks/: clip, tracker, precision, logger, tracer; seeding)
from .callbacks.clip import GradientClipping
from .callbacks.logger import CSVLogger
from .callbacks.nan import TerminateOnNaN
from .callbacks.precision import MixedPrecision
from .callbacks.tracer import EventTracer
from .callbacks.tracker import EarlyStopping, SaveModel, Tracker, TrackerCallback
from .seed import set_seed

__all__ += ["GradientClipping", "CSVLogger", "TerminateOnNaN", "MixedPrecision", "EventTracer",
            "EarlyStopping", "SaveModel", "Tracker", "TrackerCallback", "set_seed"]
# --- vision data (data/)
from .data import (
    BadImageError,
    BadImageWarning,
    EmptyClassWarning,
    ImageClassifierData,
    cifar10_data,
    dogbreeds_data,
    get_cv_idxs,
    get_dataset,
    mnist_data,
    open_image,
    pokemon_data,
    split_by_pct,
    tfms_from_stats,
    transforms_basic,
    transforms_side_on,
    transforms_top_down,
    RandomDihedral,
    RandomFlip,
    RandomLighting,
    RandomRotate,
)

__all__ += ["RandomRotate", "RandomLighting", "RandomFlip", "RandomDihedral", "ImageClassifierData",
            "tfms_from_stats", "transforms_basic",
            "transforms_side_on", "transforms_top_down", "get_cv_idxs", "split_by_pct",
            "open_image", "BadImageError", "BadImageWarning", "EmptyClassWarning", "get_dataset",
            "mnist_data",
            "cifar10_data", "pokemon_data", "dogbreeds_data"]
# --- transfer learning (vision/)
from .vision.archs import (
    tfms_from_model,
    densenet121,
    efficientnet_lite0,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    vgg16,
    vgg16_bn,
)
from .callbacks.bn_freeze import BnFreeze
from .vision.conv_learner import ConvLearner
from .vision.interpret import ClassificationInterpretation

__all__ += ["tfms_from_model", "ConvLearner", "BnFreeze", "ClassificationInterpretation",
            "efficientnet_lite0",
            "resnet18", "resnet34", "resnet50", "resnet101", "densenet121", "vgg16", "vgg16_bn"]
# --- distributed training and tuning
from .callbacks.distributed import Distributed, distrib
from .distributed import (is_main_process, main_process_first, setup_distributed,
                          teardown_distributed, unwrap_model)
__all__ += ["Distributed", "distrib", "is_main_process", "main_process_first", "setup_distributed",
            "teardown_distributed", "unwrap_model"]
from .tune import MedianPruner, TuneResult, tune
__all__ += ["MedianPruner", "TuneResult", "tune"]
# --- training extras: accumulation, TensorBoard, activation statistics (callbacks/)
from .callbacks.accumulate import GradientAccumulation
from .callbacks.activation_stats import ActivationStats
from .callbacks.tensorboard import TensorBoardCallback, TensorBoardLogger
__all__ += ["GradientAccumulation", "ActivationStats", "TensorBoardLogger", "TensorBoardCallback"]
# --- export for inference (vision/export.py)
from .vision.export import InferenceLearner, load_learner
__all__ += ["InferenceLearner", "load_learner"]
# --- resume a run from a checkpoint (callbacks/resume.py)
from .callbacks.resume import Resume
__all__ += ["Resume"]
