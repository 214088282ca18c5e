"""fit(): step-aware losses, history rows, resumable training (bit-identical), classifier training."""

import pytest
import torch

from vaeinfer import random as vrandom
from vaeinfer.models.classifier import Classifier, ClassifierConfig, accuracy, cross_entropy_loss
from vaeinfer.models.networks import NetworkConfig, init_parameters
from vaeinfer.models.vae import VAE, VAEConfig, elbo_loss, linear_beta
from vaeinfer.training import TrainingConfig, fit

pytestmark = pytest.mark.usefixtures("single_thread")

VAE_CONFIG = VAEConfig(data_dim=4, latent_dim=2, encoder=NetworkConfig(width=16, num_blocks=1, dropout=0.2),
                       decoder=NetworkConfig(width=12, num_blocks=2, dropout=0.1))
TRAINING = TrainingConfig(epochs=5, batch_size=16, learning_rate=3e-3)


def make_data():
    g = vrandom.make_generator(0)
    z = torch.randn(90, 2, generator=g)
    x = torch.cat([z, z[:, :1] * z[:, 1:], torch.sin(z[:, :1])], -1) + 0.1 * torch.randn(90, 4, generator=g)
    return (x[:70],), (x[70:],)


def new_model():
    return init_parameters(VAE(VAE_CONFIG), generator=vrandom.make_generator(1))


def elbo_with_schedule(model, batch, generator, *, step):
    return elbo_loss(model, batch[0], num_latent_samples=2, generator=generator,
                     beta=linear_beta(step, 3, 12), train_noise_std=0.01)


def train(resume_path=None, loss_fn=elbo_with_schedule, **kw):
    train_data, val_data = make_data()
    model = new_model()
    result = fit(model, train_data, val_data, loss_fn, kw.pop("config", TRAINING),
                 generator=vrandom.make_generator(2), progress=False, resume_path=resume_path, **kw)
    return model, result


def assert_same(a, b):
    (model_a, res_a), (model_b, res_b) = a, b
    for k, v in model_a.state_dict().items():
        assert torch.equal(v, model_b.state_dict()[k]), k
    for k, v in res_a.best_state.items():
        assert torch.equal(v, res_b.best_state[k]), k
    assert res_a.best_epoch == res_b.best_epoch and res_a.history == res_b.history


def test_step_is_passed_when_accepted_and_history_rows():
    seen = []

    def loss_fn(model, batch, generator, *, step):
        seen.append((model.training, step))
        return elbo_loss(model, batch[0], num_latent_samples=1, generator=generator)

    _, result = train(loss_fn=loss_fn, config=TrainingConfig(epochs=2, batch_size=16, learning_rate=1e-3))
    steps_per_epoch = 5  # ceil(70 / 16)
    assert [s for t, s in seen if t] == list(range(2 * steps_per_epoch))
    assert [s for t, s in seen if not t] == [5, 10]  # validation: steps taken so far
    assert [set(r) for r in result.history] == [{"epoch", "step", "learning_rate", "train_loss", "val_loss"}] * 2
    assert result.history[0]["learning_rate"] == 1e-3 and result.history[1]["learning_rate"] < 1e-3
    assert [r["step"] for r in result.history] == [5, 10] and result.finished


def test_resume_after_stop_is_bit_identical(tmp_path):
    reference = train()
    path = tmp_path / "resume.pt"
    model, partial = train(path, stop_after_epochs=2, checkpoint_every_epochs=1)
    assert not partial.finished and len(partial.history) == 2 and path.exists()
    assert partial.history == reference[1].history[:2]
    resumed = train(path, checkpoint_every_epochs=2)
    assert resumed[1].finished
    assert_same(reference, resumed)
    # calling again with the finished resume file trains nothing and returns the same result
    again = train(path)
    assert_same(reference, again)


def test_resume_after_a_crash_is_bit_identical(tmp_path):
    reference = train()
    path = tmp_path / "resume.pt"

    def crashing(model, batch, generator, *, step):
        if step == 17:  # in epoch 3 (steps 15-19), after the resume file of epoch 3 was written
            raise KeyboardInterrupt
        return elbo_with_schedule(model, batch, generator, step=step)

    with pytest.raises(KeyboardInterrupt):
        train(path, loss_fn=crashing, checkpoint_every_epochs=1)
    saved = torch.load(path, weights_only=True)
    assert saved["epoch"] == 3 and len(saved["history"]) == 3
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries
    assert_same(reference, train(path))


def test_resume_file_for_another_setup_is_refused(tmp_path):
    path = tmp_path / "resume.pt"
    train(path, stop_after_epochs=1)
    other = TrainingConfig(epochs=5, batch_size=16, learning_rate=1e-3)
    with pytest.raises(ValueError, match=r"differs in: training.*delete .*resume\.pt"):
        train(path, config=other)
    with pytest.raises(ValueError, match="differs in: resume_key"):
        train(path, resume_key={"dataset": "gas"})
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(OSError, match="unreadable"):
        train(path)


def test_eval_batch_size_gives_the_same_validation_loss_for_a_deterministic_loss():
    g = vrandom.make_generator(0)
    x = torch.randn(60, 3, generator=g)
    y = (x[:, 0] > 0).long()
    results = []
    for eval_batch_size in (None, 7):
        model = init_parameters(Classifier(ClassifierConfig(data_dim=3, num_classes=2)),
                                generator=vrandom.make_generator(1))
        config = TrainingConfig(epochs=2, batch_size=16, learning_rate=1e-3, eval_batch_size=eval_batch_size)
        results.append(fit(model, (x, y), (x, y), cross_entropy_loss, config, generator=vrandom.make_generator(2),
                           progress=False))
    for a, b in zip(results[0].history, results[1].history, strict=True):
        assert a["train_loss"] == b["train_loss"]
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-6)


@pytest.mark.parametrize("network", [
    NetworkConfig(width=16, num_blocks=1, dropout=0.1),
    NetworkConfig(type="resnet", image_shape=(4, 4), channels=(4, 8), blocks_per_stage=(1, 1), dropout=0.1),
])
def test_classifier_learns_a_separable_problem(network):
    g = vrandom.make_generator(0)
    labels = torch.randint(0, 3, (240,), generator=g)
    centres = 3.0 * torch.randn(3, 16, generator=g)
    x = centres[labels] + 0.5 * torch.randn(240, 16, generator=g)
    model = init_parameters(Classifier(ClassifierConfig(data_dim=16, num_classes=3, network=network)),
                            generator=vrandom.make_generator(1))
    config = TrainingConfig(epochs=15, batch_size=32, learning_rate=1e-2)
    result = fit(model, (x[:200], labels[:200]), (x[200:], labels[200:]), cross_entropy_loss, config,
                 generator=vrandom.make_generator(2), progress=False)
    model.load_state_dict(result.best_state)
    model.eval()
    assert accuracy(model, x[200:], labels[200:]) >= 0.95
    assert model(x[:5]).shape == (5, 3)
