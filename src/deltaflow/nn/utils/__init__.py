"""``nn.utils``: gradient clipping, flattening parameters into one vector, L1 penalty, and
``nn.utils.rnn`` (packed variable-length sequences), ``nn.utils.parametrize`` and
``nn.utils.parametrizations`` (weight_norm, spectral_norm)."""
from . import parametrizations, parametrize, rnn
from .clip_grad import clip_grad_norm_, clip_grad_value_, get_total_norm
from .convert_parameters import parameters_to_vector, vector_to_parameters
from .regularization import l1_penalty

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "parameters_to_vector",
           "vector_to_parameters", "l1_penalty", "rnn", "parametrize", "parametrizations"]
