"""The batched methods' tests run on tiny images, where one torch thread is fastest (and a second
thread only waits, or spins, when another process holds the other core)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
