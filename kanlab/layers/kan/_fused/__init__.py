"""Fused kernels of the KAN layers: the same values as each layer's formula, faster.

Contract
--------
What it computes. One entry point per layer, ``<registry key>(layer, x)``, called once from
that layer's ``forward_rows``: for a ``(N, in_features)`` block it returns what
``layer.reference_rows(x)`` returns (the paper's formula in plain torch ops, written in the
layer file), equal up to float rounding; tests compare both, values and gradients.

* :func:`b_spline_kan`: ``[b(x) | B(x)] @ [W_b | S * W_s]^T + bias`` as one matmul in one
  autograd node; closed-form cardinal B-splines on the uniform grid, Cox–de Boor slices after
  ``update_grid``.
* :func:`fast_kan`: ``[b(x) | phi(z)] @ [W_b | W_s]^T + c`` in one node.
* :func:`relu_kan`: ``R(x) @ W^T + b`` in one node with a hand-derived backward for x, s, e, W.
* :func:`af_kan`: AF-KAN's reduced ``z`` for global_attn / multistep without materialising F.
* :func:`gr_kan`: ``phi(x) @ W^T + c`` (group rationals) in one node; the shared
  coefficients' gradients are per-group reductions, not atomic adds.
* :func:`wav_kan`: ``psi(t) @ W_w^T + b(x) @ W_b^T`` in one node; one backward kernel gives
  the input, translation and scale gradients from a single evaluation of ``psi'``.

When it is used. Always, from those six layers' ``forward``, except where the entry point
itself calls ``layer.reference_rows`` instead: under ``torch.func`` transforms (``vmap``,
``grad``, ``jacrev``, ``jacfwd``, ``hessian``), forward-mode AD, and while tracing or
exporting (``torch.onnx.export``, ``torch.export``, ``torch.jit.trace``: the exported graph is
the plain formula); for AF-KAN also with
``spatial_attn``, ``func_norm`` other than ``none``, or an activation without a declared
closed form. Activations are used inside a kernel only when they declare a closed-form
derivative (``Activation.closed_form``: SiLU, ReLU, GELU, sigmoid, tanh, identity); others
are evaluated on autograd outside the kernel (B-spline, FastKAN) or send AF-KAN to its
reference. The elementwise kernels run eagerly, or through ``torch.compile`` from 2^21 basis
entries per call or (B-spline, FastKAN, AF-KAN, Wav-KAN) once a layer's eager calls at one
input shape add up to a compilation's cost (``compile_kernels``, ``KANLAB_COMPILE``; see
``kanlab/layers/_compile.py``), falling back to eager with one warning when compilation fails.

Higher-order gradients. Every op is a :class:`~._function.FusedFunction`: plain
``backward()`` / ``autograd.grad`` run the hand-derived first-order kernels; with
``create_graph=True`` (double backward, ``gradgradcheck``, Hessian-vector products,
physics-informed losses) the gradients are those of the op's differentiable expression on
autograd, so they can be differentiated again, to any order. Never an error, never a
silent zero.

Limits. Row chunking is the layers' business (``_chunks.py``), not the kernels'. The fused
ops run on any device torch runs the ops on; compiled kernels need a C++ compiler (CPU) or
Triton (CUDA). A new KAN layer needs nothing from here: it implements ``forward_rows``.
"""

from __future__ import annotations

from kanlab.layers.kan._fused._af_kan import af_kan
from kanlab.layers.kan._fused._bspline import b_spline_kan
from kanlab.layers.kan._fused._bumps import relu_kan
from kanlab.layers.kan._fused._rational import gr_kan
from kanlab.layers.kan._fused._rbf import fast_kan
from kanlab.layers.kan._fused._wavelet import wav_kan

__all__ = ["af_kan", "b_spline_kan", "fast_kan", "gr_kan", "relu_kan", "wav_kan"]
