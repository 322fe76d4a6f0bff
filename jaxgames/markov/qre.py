"""Logit QRE paths of discounted Markov games, traced with the games' block structure.

Two fixed points are traced, both from the reference policy ``rho`` (uniform unless given) at
``lambda = 0`` toward a Markov perfect equilibrium as ``lambda -> inf``:

* ``regularized=False``, the *Markov logit QRE* (McKelvey & Palfrey's agent QRE applied to the
  stage games; Eibelshäuser & Poensgen 2019, "Markov quantal response equilibrium and a homotopy
  method for computing and selecting Markov perfect equilibria of dynamic stochastic games", the
  ``QRE`` homotopy of sgamesolver):

      pi_i(s) ∝ rho_i(s) exp(lambda Q_i(s)),   Q_i(s, a_i) = E_{a_-i ~ pi_-i(s)}[r_i(s, a) + gamma P(s, a) . V_i]

  with ``V_i`` the policy's plain (unregularized) values, ``V_i = r_i^pi + gamma P^pi V_i``
  (``MarkovGame.evaluate(pi).action_values``, ``logit_action_values``);
* ``regularized=True``, the entropy-regularized Markov equilibrium of Cen, Wei & Chi (2021) at
  temperature ``1 / lambda`` (``jaxgames.markov.regularized``): the same equation with ``V_i``
  the regularized values (stage reward ``r_i - tau KL_i + tau bonus_i``), the fixed point whose
  ``regularized_nash_conv`` is 0 and the branch ``jaxgames.equilibria.qre_path`` follows.

The two differ as soon as ``gamma > 0`` (the continuation values of the first carry no
divergences); both limits are Markov perfect, their ``nash_conv`` tends to 0.

The unknowns are the log policies ``x [S, sum_i A_i]``, the scaled values ``Z = lambda V [N, S]``
(in the same logit units as ``x``; exactly 0 at ``lambda = 0``) and ``lambda``, as in
sgamesolver's homotopy with ``Z`` for ``V``:

    H1(s) = x(s) - log softmax(lambda r(s) + gamma P(s) Z  averaged over the others, + log rho(s))
    H2_i(s) = Z_i(s) - sum_a pi(s, a) [lambda r_i(s, a) + gamma P(s, a) . Z_i]  (+ KL_i(s) - bonus_i(s))

``H1`` at state ``s`` involves only ``x(s)``, ``lambda`` and ``Z`` (through ``P``); ``H2`` only
``x(s)``, ``lambda`` and ``Z``. The Jacobian is block-diagonal per state in ``x`` (blocks of
``sum_i A_i``) bordered by the ``N S`` value columns, so each step eliminates ``x`` state by state
and factors one ``(N S + 1)``-square reduced system (the arclength row included) instead of the
dense ``(S sum_i A_i + 1)``-square Jacobian of ``jaxgames.equilibria.qre_path``: for 64 states, 2
players and 4 actions a 129-square LU instead of a 513-square one, and no Jacobian by 512 JVPs
through a 64-state linear solve. Every block is written by hand (no ``jacfwd``; checked against
it in ``tests/test_qre_markov.py``). With two players the per-state blocks ``[[I, X], [Y, I]]`` are
inverted in closed form (``_System.block_inverse``: the Schur complement ``I - X Y``, inverted by
cofactors when one player has at most 4 actions), fused over the states instead of one LAPACK call
per state.

The continuation is pseudo-arclength in ``(x, lambda)`` (``Z`` follows; Allgower & Georg 1990):

* predictor: second order, ``y + h t + h^2 / (2 h_prev) (t - t_prev)`` (the curvature from the
  change of the unit tangent over the previous step; the first step goes along ``lambda``);
* corrector: chord Newton iterations with the factorization at the predicted point, each
  correction improved by Broyden's rank-one updates of that chord matrix (Kelley 1995, "Iterative
  methods for linear and nonlinear equations", ch. 7: the updates are kept as the corrections
  themselves, so a step still costs one factorization; the chord iteration converges linearly at a
  rate that grows with the predictor's error, the updated one superlinearly: on the 64-state
  benchmark game a fifth fewer iterations and a tenth fewer steps at the same tolerance), until the
  residual (in logit units) is below ``corrector_tol`` or at rounding level, or within ``100
  corrector_tol`` once it no longer halves (the rounding of the solves themselves, which grows
  with the condition of the per-state blocks, ~10^8 at ``lambda`` ~ 10^3 on a sheet heading for
  supports of unequal sizes: without this the path crawls to ``min_step`` there); rejected when
  the residual rises above the first one, when it has not converged in ``corrector_steps``, or
  when the first correction exceeds ``corrector_distance``;
* step size: ``h`` times ``sqrt(corrector_distance / 4 / first correction)``, clipped to
  ``[1/2, max_accel]`` (not above 1 after a slow corrector); halved after a rejection;
* the tangent at the new point is solved with the same factorization (oriented by the previous
  one), so a step costs one factorization: the kernel of the Jacobian at the predicted point, then
  one chord step of ``J(y) t = 0`` at the corrected point ``y`` (``J(y) t`` by forward
  differentiation of ``H``, one JVP). The predicted point is up to ``corrector_distance / 4`` off
  the path, so the plain kernel is off the tangent by about that times the curvature: a predictor
  error linear in ``h`` that forces small steps on sharp bends;
* end game: the limit support is read off the path (an action stays while ``lambda d/dlambda`` of
  its log-probability ratio to the likeliest action is above -1), and Newton's method (damped)
  solves the indifference equations of the Markov perfect equilibrium with that support from the
  path point; accepted when it converges, lies within ``3 lambda |d pi / d lambda|`` (or 0.05) of
  the path point and its ``nash_conv`` bound (one-shot deviation gains over ``1 - gamma``) is below
  the tolerance. The ``1 / lambda`` approach to a mixed limit thus ends at ``lambda`` ~ 10^2-10^3
  instead of ``max_lambda``. The limit's supports may differ in size between the players of a
  state (one player mixing three actions against two; common in sparse games, ``branching=2``):
  the extra indifference is balanced by the values of other states, so the equilibrium is regular
  but the per-state block of the limit system is singular; Newton's method then solves with that
  block shifted by ``sqrt(eps)`` (``_polish``), which keeps the state-by-state elimination and
  converges linearly at a rate of about ``sqrt(eps) |J^-1|``.

Branches with many folds: on sparse random games the branch may turn back many times, and far out
(``S = 32``, ``branching = 2``: dozens of turning points, some at ``lambda`` ~ 10^3, before it heads
for its limit; the same turning points at a five times smaller ``corrector_distance``, and
``det [dH/dy ; t^T]`` keeps its sign: one branch, not the corrector jumping between sheets). Such
a path needs several thousand points: it stops ``OUT_OF_POINTS`` (an honest status, ``nash`` the
last point) unless ``max_points`` is raised. The end game is tried only while ``lambda`` grows past
its schedule; an equilibrium it returns is certified (``nash_conv`` bound) but, on a sheet that later
turns back, need not be the branch's own limit.

Shapes: policies per player ``[S, A_i]``; ``QREPath.policies`` per player ``[P, S, A_i]``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.core import Policy, is_concrete
from jaxgames.equilibria.path import CONVERGED, FAILED, OUT_OF_POINTS, REACHED, QREPath
from jaxgames.markov.game import MarkovGame, contract_actions
from jaxgames.validation import check_int, check_scalar

__all__ = ["logit_action_values", "qre_residual", "qre_path"]


def logit_action_values(game: MarkovGame, policy: Policy) -> Policy:
    """Per player ``[S, A_i]``: ``Q_i(s, a_i) = E_{a_-i ~ pi_-i(s)}[r_i(s, a) + gamma P(s, a) . V_i^pi]``.

    ``V_i^pi`` are the policy's plain values (one exact linear solve): the action values whose
    softmax is the Markov logit response, ``pi_i(s) ∝ rho_i(s) exp(lambda Q_i(s))``
    (``MarkovGame.smooth_best_response`` at temperature ``1 / lambda``). Discounted games only.

    Example::

        game = jaxgames.markov.random_general_sum(jax.random.key(0), 8, 3)
        q = logit_action_values(game, game.uniform_policy())   # ([8, 3], [8, 3])
    """
    _check_discounted(game)
    return tuple(game.evaluate(policy).action_values)


def _check_discounted(game) -> None:
    if not isinstance(game, MarkovGame):
        raise ValueError(f"game: expected a discounted MarkovGame, got {type(game).__name__}")
    if game.horizon is not None:
        raise ValueError(
            f"game: the Markov QRE needs a discounted game (horizon=None), got horizon={game.horizon}: with a "
            "finite horizon the equilibrium is time-dependent and a stationary policy cannot represent it"
        )


def qre_residual(
    game: MarkovGame, policy: Policy, inverse_temperature, reference: Policy | None = None, *, regularized=False
) -> jax.Array:
    """``max |log pi - log softmax(lambda Q(pi) + log rho)|`` over the reference's support: 0 exactly at
    the (Markov logit or, with ``regularized=True``, Cen et al.'s regularized) QRE at ``lambda``.

    ``Q`` is ``logit_action_values`` or ``jaxgames.markov.regularized.regularized_action_values`` at
    temperature ``1 / lambda``. A scalar; ``policy`` per player ``[S, A_i]``.
    """
    _check_discounted(game)
    dtype = policy[0].dtype
    reference = tuple(r.astype(dtype) for r in (game.uniform_policy() if reference is None else reference))
    lam = jnp.asarray(inverse_temperature, dtype)
    if regularized:
        from jaxgames.markov.regularized import regularized_action_values

        q = regularized_action_values(game, policy, 1.0 / lam, reference)
    else:
        q = logit_action_values(game, policy)
    worst = jnp.zeros((), dtype)
    for p, qi, rho in zip(policy, q, reference):
        m = rho > 0
        logits = jnp.where(m, lam * qi + jnp.log(jnp.where(m, rho, 1.0)), -jnp.inf)
        target = logits - jax.nn.logsumexp(logits, axis=-1, keepdims=True)
        # both clipped at log(tiny): probabilities that underflow to 0 match targets below it
        floor = jnp.log(jnp.finfo(dtype).tiny)
        gap = jnp.where(m, jnp.log(jnp.maximum(p, jnp.finfo(dtype).tiny)) - jnp.maximum(target, floor), 0.0)
        worst = jnp.maximum(worst, jnp.max(jnp.abs(gap)))
    return worst


# ----------------------------------------------------------------------------------------------
# the structured system


def _keep(tensor: jax.Array, pis: list, keep: tuple) -> jax.Array:
    """Average ``tensor [S, A_1..A_N]`` over every player's action but those in ``keep`` (kept in
    that order): ``[S, *A_keep]``."""
    n = len(pis)
    operands = [tensor, list(range(n + 1))]
    for j, p in enumerate(pis):
        if j not in keep:
            operands += [p, [0, 1 + j]]
    return jnp.einsum(*operands, [0] + [1 + j for j in keep])


def _bmm(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a @ b`` for stacks of small matrices ``[S, m, k] @ [S, k, l]``, written as ``k`` broadcast
    products (no dot, no reduction), so that XLA fuses it with its neighbours into elementwise loops:
    a small batched dot per call, or a broadcast product summed by a reduction (which XLA's CPU
    backend hands to a library kernel), takes several times longer at these sizes."""
    out = a[..., :, 0, None] * b[..., None, 0, :]
    for j in range(1, a.shape[-1]):
        out = out + a[..., :, j, None] * b[..., None, j, :]
    return out


def _det(rows: list) -> jax.Array:
    """Determinant of a small matrix given as nested lists of batched entries (Laplace expansion
    along the first row)."""
    m = len(rows)
    if m == 1:
        return rows[0][0]
    if m == 2:
        return rows[0][0] * rows[1][1] - rows[0][1] * rows[1][0]
    total = 0.0
    for j in range(m):
        minor = [r[:j] + r[j + 1 :] for r in rows[1:]]
        total = total + (-1.0) ** j * rows[0][j] * _det(minor)
    return total


def _small_inverse(a: jax.Array) -> jax.Array:
    """``a^-1`` for a stack ``[S, m, m]`` with ``m <= 4``: adjugate over determinant, elementwise over
    the stack (fused by XLA; no LAPACK call per matrix)."""
    m = a.shape[-1]
    e = [[a[..., i, j] for j in range(m)] for i in range(m)]
    if m == 1:
        return 1.0 / a
    # cofactor (i, j) of a is the (j, i) entry of adj(a)
    cof = [
        [(-1.0) ** (i + j) * _det([r[:j] + r[j + 1 :] for k, r in enumerate(e) if k != i]) for j in range(m)]
        for i in range(m)
    ]
    det = sum(e[0][j] * cof[0][j] for j in range(m))
    adj = jnp.stack([jnp.stack([cof[j][i] for j in range(m)], axis=-1) for i in range(m)], axis=-2)
    return adj / det[..., None, None]


class _System:
    """``H(x, Z, lambda)`` of the module docstring, its structured Jacobian and bordered solves.

    With ``ref`` (per state and player the index of a support action, ``[S, N]``) the *limit*
    system instead: on the support ``mask``, ``Q_i(s, a) - Q_i(s, ref) = 0`` (indifference) and
    ``log sum_a pi_i(s, a) = 0`` in the row of ``ref``, at ``lambda = 1`` (so ``Z = V``): a Markov
    perfect equilibrium with that support (``_polish``). Every block is batched over the states and
    written by hand (no ``jacfwd``: it compiles several times faster)."""

    def __init__(self, game: MarkovGame, mask, log_rho, regularized: bool, ref=None):
        self.n = game.num_players
        self.S = game.num_states
        self.A = tuple(game.num_actions)
        self.offsets = tuple(int(o) for o in np.cumsum((0,) + self.A))
        self.nloc = self.offsets[-1]
        self.regularized = regularized
        self.dtype = log_rho.dtype
        self.mask, self.log_rho = mask, log_rho  # [S, nloc]
        self.ref = ref
        self.rewards = game.rewards.astype(self.dtype)  # [N, S, A..]
        self.P = game.transitions.astype(self.dtype)  # [S, A.., S']
        self.gamma = jnp.asarray(game.discount, self.dtype)
        # ``P`` in the layouts of its contractions, laid out once, outside the continuation's loops:
        # every contraction below is then a plain (batched) matmul over contiguous axes. With ``P`` a
        # traced argument, XLA otherwise transposes the [S, A.., S'] tensor inside the loops, several
        # times per step (three times the whole path's run time at 64 states).
        S, K = self.S, int(np.prod(self.A))
        self.P_T = self.P.reshape(S * K, S).T  # [S', S K]: the continuation sum_s' P(s, a, s') Z(s')
        self.P_keep = []  # per player i: [S, A_-i.. (in player order), A_i S']
        for i in range(self.n):
            moved = jnp.moveaxis(self.P, 1 + i, self.n)  # [S, A_-i.., A_i, S']
            self.P_keep.append(moved.reshape(moved.shape[:-2] + (self.A[i] * S,)))

    def p_keep(self, pis, i: int) -> jax.Array:
        """``[S, A_i, S']``: ``P`` averaged over every player's action but ``i``'s (``contract_actions``)."""
        t = self.P_keep[i]
        for j in range(self.n):
            if j != i:  # the leading action axis is player j's: a batched matmul [1, A_j] @ [A_j, rest]
                t = jnp.einsum("sa,sar->sr", pis[j], t.reshape(self.S, self.A[j], -1))
        return t.reshape(self.S, self.A[i], self.S)

    def p_pi(self, pis, p_keep0=None) -> jax.Array:
        """``[S, S']``: ``P`` averaged over the joint policy (``P^pi``)."""
        p0 = self.p_keep(pis, 0) if p_keep0 is None else p_keep0
        return jnp.einsum("sa,sat->st", pis[0], p0)

    def with_support(self, mask, ref) -> _System:
        new = object.__new__(_System)
        new.__dict__.update(self.__dict__)
        new.mask, new.ref, new.regularized = mask, ref, False
        new.log_rho = jnp.zeros_like(self.log_rho)
        return new

    # -- pieces ---------------------------------------------------------------------------------
    def split(self, v: jax.Array) -> list:
        return [v[..., self.offsets[i] : self.offsets[i + 1]] for i in range(self.n)]

    def policy(self, x: jax.Array) -> Policy:
        """Per player ``[S, A_i]``: ``exp(x)`` on the support, 0 off it."""
        return tuple(self.split(jnp.where(self.mask, jnp.exp(x), 0.0)))

    def joint(self, Z: jax.Array, lam) -> jax.Array:
        """``U [N, S, A..] = lambda r + gamma sum_s' P(s' | s, a) Z(s')``."""
        cont = (Z @ self.P_T).reshape((self.n,) + self.P.shape[:-1])
        return lam * self.rewards + self.gamma * cont

    def _is_ref(self, i: int) -> jax.Array:
        return jnp.arange(self.A[i]) == self.ref[:, i : i + 1]  # [S, A_i]

    def _kl(self, pis, xs, ms, ls) -> jax.Array:
        """``[N, S]``: ``KL_i(s)`` of the (unnormalized) ``pi = exp(x)``."""
        return jnp.stack([jnp.sum(jnp.where(m, p * (x - li), 0.0), axis=-1) for p, x, m, li in zip(pis, xs, ms, ls)])

    def _stage(self, x, U):
        """``(H1 [S, nloc], vals [N, S])``: ``vals_i = sum_a pi(a) U_i(a)`` (``- KL_i + bonus_i``)."""
        pis = list(self.policy(x))
        xs, ms, ls = self.split(x), self.split(self.mask), self.split(self.log_rho)
        h1, vals = [], []
        for i in range(self.n):
            q = _keep(U[i], pis, (i,))
            if self.ref is None:
                logits = jnp.where(ms[i], q + ls[i], -jnp.inf)
                h1.append(jnp.where(ms[i], xs[i] - (logits - jax.nn.logsumexp(logits, axis=-1, keepdims=True)), xs[i]))
            else:
                norm = jax.nn.logsumexp(jnp.where(ms[i], xs[i], -jnp.inf), axis=-1, keepdims=True)
                q_ref = jnp.take_along_axis(q, self.ref[:, i, None], axis=1)
                h1.append(jnp.where(ms[i], jnp.where(self._is_ref(i), norm, q - q_ref), xs[i]))
            vals.append(jnp.sum(pis[i] * q, axis=-1))  # sum_a pi(a) U_i(a), from the marginal Q_i
        vals = jnp.stack(vals)
        if self.regularized:
            kl = self._kl(pis, xs, ms, ls)
            bonus = (jnp.sum(kl, axis=0) - kl) / (self.n - 1) if self.n > 1 else jnp.zeros_like(kl)
            vals = vals - kl + bonus
        return jnp.concatenate(h1, axis=-1), vals

    def residual(self, x: jax.Array, Z: jax.Array, lam) -> tuple[jax.Array, jax.Array]:
        """``(H1 [S, nloc], H2 [N, S])``."""
        h1, vals = self._stage(x, self.joint(Z, lam))
        return h1, Z - vals

    def values(self, x: jax.Array, lam) -> jax.Array:
        """``Z [N, S]`` solving ``H2 = 0`` exactly for this ``(x, lambda)`` (one ``S``-square solve)."""
        _, stage = self._stage(x, lam * self.rewards)
        E = jnp.eye(self.S, dtype=self.dtype) - self.gamma * self.p_pi(self.policy(x))
        return jnp.linalg.solve(E, stage.T).T

    # -- the structured Jacobian at (x, Z, lambda) ----------------------------------------------
    def linearize(self, x: jax.Array, Z: jax.Array, lam) -> dict:
        """Blocks: ``B [S, nloc, nloc]`` (``dH1/dx``), ``D [S, N, nloc]`` (``dH2/dx``), ``b1 [S, nloc]``,
        ``b2 [N, S]`` (``d/dlambda``), per player ``C_i [S, A_i, S']`` (``dH1_i/dZ_i``), ``E [S, S']``
        (``dH2_i/dZ_i = I - gamma P^pi``, the same for every player)."""
        n, S = self.n, self.S
        U = self.joint(Z, lam)
        pis = list(self.policy(x))
        xs, ms, ls = self.split(x), self.split(self.mask), self.split(self.log_rho)
        rows_B, b1, C = [], [], []
        for i in range(n):
            q = _keep(U[i], pis, (i,))
            qr = _keep(self.rewards[i], pis, (i,))
            Pi = self.p_keep(pis, i)  # [S, A_i, S']
            if i == 0:
                Pi0 = Pi
            if self.ref is None:
                # H1_i = x_i - log p_i, p_i = softmax(lambda Q_i + log rho_i): dH1_i/dQ_i = -(I - 1 p_i^T)
                p = jnp.where(ms[i], jax.nn.softmax(jnp.where(ms[i], q + ls[i], -jnp.inf), axis=-1), 0.0)

                def d_row(dq, p=p):  # dq [S, A_i, ...] -> dH1_i
                    return -(dq - jnp.einsum("sa,sa...->s...", p, dq)[:, None])
            else:
                is_ref, ref = self._is_ref(i), self.ref[:, i]

                def d_row(dq, is_ref=is_ref, ref=ref):  # Q_i(a) - Q_i(ref), 0 in the reference row
                    dq_ref = jnp.take_along_axis(dq, ref.reshape((-1, 1) + (1,) * (dq.ndim - 2)), axis=1)
                    return jnp.where(is_ref.reshape(is_ref.shape + (1,) * (dq.ndim - 2)), 0.0, dq - dq_ref)

            blocks = []
            for j in range(n):
                if j == i:
                    if self.ref is None:
                        blk = jnp.broadcast_to(jnp.eye(self.A[i], dtype=self.dtype), (S, self.A[i], self.A[i]))
                    else:  # the reference row: d/dx logsumexp(x on the support) = softmax
                        soft = jax.nn.softmax(jnp.where(ms[i], xs[i], -jnp.inf), axis=-1)
                        blk = jnp.where(self._is_ref(i)[..., None], jnp.where(ms[i], soft, 0.0)[:, None, :], 0.0)
                        blk = jnp.where(ms[i][..., None], blk, jnp.eye(self.A[i], dtype=self.dtype))
                else:
                    dq = _keep(U[i], pis, (i, j)) * pis[j][:, None, :]  # dQ_i(a) / dx_j(b)
                    blk = jnp.where(ms[i][..., None], d_row(dq), 0.0)
                blocks.append(blk)
            rows_B.append(jnp.concatenate(blocks, axis=-1))
            b1.append(jnp.where(ms[i], d_row(qr), 0.0))
            C.append(jnp.where(ms[i][..., None], d_row(self.gamma * Pi), 0.0))
        B = jnp.concatenate(rows_B, axis=1)  # [S, nloc, nloc]
        # H2_i = Z_i - sum_a pi(a) U_i(a) (+ KL_i - bonus_i)
        D = []
        dkl = [jnp.where(m, p * (xx - li + 1.0), 0.0) for p, xx, m, li in zip(pis, xs, ms, ls)]
        for i in range(n):
            parts = []
            for j in range(n):
                d = -pis[j] * _keep(U[i], pis, (j,))
                if self.regularized:
                    d = d + (1.0 if j == i else -1.0 / (n - 1)) * dkl[j]
                parts.append(d)
            D.append(jnp.concatenate(parts, axis=-1))
        D = jnp.stack(D, axis=1)  # [S, N, nloc]
        b2 = -jnp.stack([_keep(self.rewards[i], pis, ()) for i in range(n)])
        E = jnp.eye(S, dtype=self.dtype) - self.gamma * self.p_pi(pis, Pi0)
        return {"B": B, "D": D, "b1": jnp.concatenate(b1, axis=-1), "b2": b2, "C": C, "E": E}

    def block_inverse(self, B: jax.Array) -> jax.Array:
        """``B^-1 [S, nloc, nloc]`` of the per-state blocks ``B [S, nloc, nloc]`` (``dH1/dx``).

        Two players on the path (no ``ref``): ``B = [[I, X], [Y, I]]`` (``X [S, A_0, A_1]``,
        ``Y [S, A_1, A_0]``), inverted through the Schur complement ``M = (I - X Y)^-1``:
        ``B^-1 = [[M, -M X], [-Y M, I + Y M X]]`` (``A_0`` the smaller count, at most 4; ``M`` by cofactors). Every
        product is written elementwise over the states, so XLA fuses the whole inverse into a few
        loops over the batch instead of one LAPACK call per state (64 per step at 64 states, about
        three times the time). Otherwise (more players, the limit system) ``jnp.linalg.inv``."""
        if self.n != 2 or self.ref is not None or min(self.A) > 4:
            return jnp.linalg.inv(B)
        a0, a1 = self.A
        swap = a0 > a1  # the Schur complement on the smaller player's side
        if swap:
            B = B[:, ::-1, ::-1]  # [[I, Y'], [X', I]] reversed: still identity diagonal blocks
            a0, a1 = a1, a0
        X, Y = B[:, :a0, a0:], B[:, a0:, :a0]
        M = _small_inverse(jnp.eye(a0, dtype=B.dtype) - _bmm(X, Y))
        MX, YM = _bmm(M, X), _bmm(Y, M)
        inv = jnp.concatenate(
            [
                jnp.concatenate([M, -MX], axis=-1),
                jnp.concatenate([-YM, jnp.eye(a1, dtype=B.dtype) + _bmm(Y, MX)], axis=-1),
            ],
            axis=-2,
        )
        return inv[:, ::-1, ::-1] if swap else inv

    def factor(self, lin: dict, row_x: jax.Array, row_lam) -> dict:
        """Eliminate ``x`` state by state and LU-factor the ``(N S + 1)``-square bordered system whose
        last row is ``row_x . dx + row_lam dlambda`` (no ``Z`` term).

        Per state ``s`` the eliminated rows ``[D(s); row_x(s)] B(s)^-1`` (``G [S, N + 1, nloc]``) meet
        the columns ``[C(s) | b1(s)]`` (``W [S, nloc, N S' + 1]``: player ``j``'s rows in the columns of
        ``Z_j``), so the whole Schur complement is a batched matmul per player; the permutation of the LU is
        computed here once, not in every solve."""
        n, S = self.n, self.S
        Binv = self.block_inverse(lin["B"])  # [S, nloc, nloc]
        G = jnp.einsum("skb,sbc->skc", jnp.concatenate([lin["D"], row_x[:, None, :]], axis=1), Binv)
        # W(s) is player j's C_j(s) in its own rows and the columns of Z_j (zero elsewhere): the
        # products per player, never the padded [S, nloc, N S' + 1] array
        GW = jnp.concatenate(
            [
                jnp.einsum("skc,sct->skt", G[:, :, self.offsets[j] : self.offsets[j + 1]], Cj)
                for j, Cj in enumerate(lin["C"])
            ]
            + [jnp.einsum("skc,sc->sk", G, lin["b1"])[..., None]],
            axis=-1,
        )  # [S, N + 1, N S' + 1]
        # rows (k, s), columns (j, s') and the lambda column: delta_kj E - G_k C_j, b2_k - G_k b1
        base = jnp.einsum("kj,st->ksjt", jnp.eye(n, dtype=self.dtype), lin["E"]).reshape(n * S, n * S)
        top = jnp.concatenate([base, lin["b2"].reshape(n * S, 1)], axis=1)
        top = top - jnp.swapaxes(GW[:, :n], 0, 1).reshape(n * S, n * S + 1)
        last = jnp.zeros((n * S + 1,), self.dtype).at[-1].set(row_lam) - jnp.sum(GW[:, n], axis=0)
        lu, _, perm = jax.lax.linalg.lu(jnp.concatenate([top, last[None]], axis=0))
        return {"lu": lu, "perm": perm, "Binv": Binv, "G": G, "C": lin["C"], "b1": lin["b1"]}

    def solve(self, fac: dict, f1: jax.Array, f2: jax.Array, f3) -> tuple:
        """``(dx [S, nloc], dZ [N, S], dlambda)`` with ``J (dx, dZ, dlambda) = (f1, f2, f3)``."""
        n = self.n
        Gf = jnp.einsum("skc,sc->sk", fac["G"], f1)  # [S, N + 1]
        rhs = jnp.concatenate([(f2 - Gf[:, :n].T).reshape(-1), (f3 - jnp.sum(Gf[:, n]))[None]])
        lu, solve = fac["lu"], functools.partial(jax.lax.linalg.triangular_solve, left_side=True)
        sol = solve(lu, solve(lu, rhs[fac["perm"], None], lower=True, unit_diagonal=True), lower=False)[:, 0]
        dZ = sol[:-1].reshape(n, self.S)
        w = jnp.concatenate([jnp.einsum("sct,t->sc", Cj, dZ[j]) for j, Cj in enumerate(fac["C"])], axis=-1)
        dx = jnp.einsum("sbc,sc->sb", fac["Binv"], f1 - w - fac["b1"] * sol[-1])
        return dx, dZ, sol[-1]


# ----------------------------------------------------------------------------------------------
# continuation


def _support(system: _System, x: jax.Array, dx: jax.Array, lam) -> tuple[jax.Array, jax.Array]:
    """The support that the path point ``x [S, sum_i A_i]`` at ``lambda`` heads for, from its slope
    ``dx = dx / dlambda``: ``(mask, ref [S, N])`` with ``ref`` each player's likeliest action.

    Off the support of the limit, ``log pi(a) - log pi(ref)`` falls like ``-lambda gap(a)``; on it,
    it converges (like ``1 / lambda``). An action is kept while ``lambda d/dlambda (x(a) - x(ref))``,
    the fall of its log-probability ratio when ``lambda`` grows by a factor ``e``, is above -1."""
    parts, refs = [], []
    for xi, di, mi in zip(system.split(x), system.split(dx), system.split(system.mask)):
        ref = jnp.argmax(jnp.where(mi, xi, -jnp.inf), axis=-1)
        d_ref = jnp.take_along_axis(di, ref[:, None], axis=1)
        parts.append(mi & (lam * (di - d_ref) > -1.0))
        refs.append(ref)
    return jnp.concatenate(parts, axis=-1), jnp.stack(refs, axis=-1).astype(jnp.int32)


def _polish(system: _System, x: jax.Array, support: jax.Array, ref: jax.Array, max_steps: int):
    """Newton's method on the limit system (``_System`` with ``ref``) from the path point ``x``: the
    Markov perfect equilibrium with that ``support`` (``_support``).

    Returns ``(x*, converged)``; ``x*`` is the log policy on that support (``-inf`` off it)."""
    dtype = system.dtype
    eps = jnp.finfo(dtype).eps
    limit = system.with_support(support, ref)
    x = jnp.where(support, x, 0.0)
    one = jnp.ones((), dtype)
    zero_row = jnp.zeros_like(x)
    r_max = jnp.max(jnp.abs(system.rewards))

    def cond(c):
        k, _, _, res, prev = c
        tol = 64 * eps * (1.0 + r_max / (1.0 - system.gamma))
        return (k < max_steps) & (res > tol) & (res < prev) & jnp.isfinite(res)

    def trial(x, dx, alpha):
        x = x + alpha * dx
        Z = limit.values(x, one)
        return x, Z, jnp.max(jnp.abs(limit.residual(x, Z, one)[0]))

    # The per-state blocks B(s) of the limit system are singular wherever the players' supports
    # at s differ in size (player 0 mixing 3 actions against 2: player 0's two indifferences
    # constrain player 1's single degree of freedom and the values, not player 0's policy), a
    # regular situation in Markov games: the values Z of other states take up the difference, so
    # the whole Jacobian is regular but x cannot be eliminated state by state. Newton's method
    # uses the Jacobian with B(s) + mu I instead: its solves lose about eps / mu to the small
    # pivots and it converges linearly, at a rate of about mu |J^-1|; mu = sqrt(eps) balances both.
    shift = jnp.sqrt(eps) * (1.0 + r_max / (1.0 - system.gamma)) * jnp.eye(system.nloc, dtype=dtype)

    def body(c):
        k, x, Z, res, _ = c
        lin = limit.linearize(x, Z, one)
        fac = limit.factor({**lin, "B": lin["B"] + shift}, zero_row, one)
        h1, h2 = limit.residual(x, Z, one)
        dx, _, _ = limit.solve(fac, -h1, -h2, jnp.zeros((), dtype))

        # damped: halve the step (down to 1/64) until the residual decreases
        def halve(cc):
            alpha, *_ = cc
            return (alpha / 2, *trial(x, dx, alpha / 2))

        def worse(cc):
            alpha, _, _, r = cc
            return (alpha > 1.0 / 32) & ~(r < res)

        init = (jnp.full((), 2.0, dtype), x, Z, jnp.asarray(jnp.inf, dtype))
        _, x_new, Z_new, r_new = jax.lax.while_loop(worse, halve, init)
        return k + 1, x_new, Z_new, r_new, res

    Z = limit.values(x, one)
    h1, _ = limit.residual(x, Z, one)
    init = (jnp.zeros((), jnp.int32), x, Z, jnp.max(jnp.abs(h1)), jnp.asarray(jnp.inf, dtype))
    _, x, _, res, _ = jax.lax.while_loop(cond, body, init)
    tol = 64 * eps * (1.0 + r_max / (1.0 - system.gamma))
    return jnp.where(support, x, -jnp.inf), jnp.isfinite(res) & (res <= 1e3 * tol)


def _nash_conv_bound(game: MarkovGame, policy: Policy) -> jax.Array:
    """An upper bound on ``nash_conv`` from the one-shot deviation gains, without policy iteration:
    ``V_i* - V_i <= (I - gamma P*)^-1 g_i <= max_s g_i(s) / (1 - gamma)`` with
    ``g_i(s) = max_a Q_i(s, a) - V_i(s) >= 0`` (``Q`` and ``V`` of ``policy``)."""
    V = game.state_values(policy)
    joint = game.joint_action_values(V)
    gains = [jnp.max(jnp.max(contract_actions(joint[i], policy, keep=i), axis=-1) - V[i]) for i in range(len(policy))]
    return jnp.maximum(sum(gains), 0.0) / (1.0 - game.discount)


def _trace(
    system: _System,
    x0: jax.Array,
    game: MarkovGame,
    *,
    first_step,
    max_accel,
    max_step,
    min_step,
    max_lambda,
    regret_tol,
    max_points: int,
    corrector_steps: int,
    corrector_distance,
    tol,
    polish_from,
    polish_every,
):
    dtype = system.dtype
    S, n = system.S, system.n
    eps = jnp.finfo(dtype).eps
    zeros_x = jnp.zeros_like(x0)
    Z0 = jnp.zeros((n, S), dtype)
    lam0 = jnp.zeros((), dtype)
    r_max = jnp.max(jnp.abs(system.rewards))

    def tangent(fac, sign_ref, at=None):
        """The unit tangent, oriented by ``sign_ref``: the kernel of the factorized Jacobian (its
        bordered row normalized to 1) and, ``at`` a point ``(x, Z, lambda)`` of the path, one chord
        step of ``J t = 0`` there: ``t - A^-1 [J(at) t; 0]``."""
        tx, tZ, tl = system.solve(fac, zeros_x, jnp.zeros_like(Z0), jnp.ones((), dtype))
        if at is not None:
            _, (r1, r2) = jax.jvp(system.residual, at, (tx, tZ, tl))
            dx, dZ, dl = system.solve(fac, r1, r2, jnp.zeros((), dtype))
            tx, tZ, tl = tx - dx, tZ - dZ, tl - dl
        scale = jnp.sqrt(jnp.sum(tx * tx) + tl * tl)
        flip = jnp.where(sign_ref(tx / scale, tl / scale) < 0, -1.0, 1.0) / scale
        return tx * flip, tZ * flip, tl * flip

    # the first step along lambda (the branch leaves x0 like O(lambda)); every later tangent is the
    # factorization's
    t0 = (zeros_x, jnp.zeros_like(Z0), jnp.ones((), dtype))
    lams = jnp.full((max_points,), jnp.nan, dtype).at[0].set(0.0)
    # the path's policies (per player [P, S, A_i]), stored as the points are accepted: rows past the
    # last point stay NaN, and no pass over the whole buffer follows the loop
    pols = tuple(jnp.full((max_points,) + p.shape, jnp.nan, dtype).at[0].set(p) for p in system.policy(x0))

    def corrector(fac, xp, Zp, lp, row_x, row_l):
        """Chord Newton from the predicted point, with Broyden's updates of the chord matrix:
        ``(x, Z, lam, first correction, iterations, converged)``; ``iterations`` counts the residuals
        evaluated (a solve follows each but the last, the converged one). The first correction is
        the plain chord one (``first``, for the step control)."""

        def evaluate(k, x, Z, lam, res0, ok, prev):
            """The residual at an iterate, whether it has converged, and whether the corrector still
            makes progress (``k`` residuals evaluated before this one)."""
            h1, h2 = system.residual(x, Z, lam)
            h3 = jnp.sum(row_x * (x - xp)) + row_l * (lam - lp)
            res = jnp.maximum(jnp.maximum(jnp.max(jnp.abs(h1)), jnp.max(jnp.abs(h2))), jnp.abs(h3))
            # the residual is in logit units (log-probabilities and lambda-scaled values): converged
            # at ``tol`` or at rounding level, where every term is at most ``scale``
            scale = 1.0 + jnp.maximum(jnp.maximum(jnp.max(jnp.abs(x)), jnp.max(jnp.abs(Z))), jnp.abs(lam) * r_max)
            done = res <= jnp.maximum(tol, 32 * eps * scale)
            # or at the level of the solves' own rounding, which grows with the condition of the
            # per-state blocks (~1e8 at lambda ~ 1e3 toward supports of unequal sizes): a residual
            # within 100 tol that no longer halves
            done = done | ((k > 0) & (res <= 100 * tol) & (res > 0.5 * prev))
            res0 = jnp.where(k == 0, res, res0)
            # Newton's method may stall for an iteration before it converges (the exponential of
            # x): only a residual above the first one is a failure
            ok = ok & (done | (jnp.isfinite(res) & (res <= res0)))
            return (h1, h2, h3), res, res0, ok, done

        K = corrector_steps
        size_x, size_z = x0.size, Z0.size

        def step(c):
            k, x, Z, lam, (h1, h2, h3), first, res0, ok, _, prev, (steps, norms, gram) = c
            dx, dZ, dl = system.solve(fac, -h1, -h2, -h3)
            first = jnp.where(k == 1, jnp.max(jnp.abs(dx)), first)
            # Broyden's ("good") update B_{j+1} = B_j + F(y_{j+1}) s_j^T / |s_j|^2 of the chord matrix
            # B_0 = A, applied through Sherman-Morrison to the chord correction z0 = -A^-1 F(y_m)
            # (Kelley 1995, ch. 7.3, ``brsol``): z = z0 + sum_{j < m-1} c_j s_{j+1} with
            # c_j = s_j . z_j / |s_j|^2 (z_j the partial sum), then s_m = z / (1 - s_{m-1} . z / |s_{m-1}|^2).
            # The c_j solve one triangular system in the Gram matrix of the corrections (``gram[j, i] =
            # s_j . s_{i+1}``). The denominator is kept above 0.1 (a correction amplified tenfold at most;
            # the residual test still judges every iterate)
            m = k - 1
            z0 = jnp.concatenate([dx.ravel(), dZ.ravel(), dl[None]])
            idx = jnp.arange(K + 1)
            live = idx < m - 1
            tri = jnp.where(live[:, None] & (idx[None, :] < idx[:, None]), -gram, 0.0)
            tri = tri + jnp.diag(jnp.where(live, norms, 1.0))
            coef = jax.lax.linalg.triangular_solve(
                tri, jnp.where(live, steps @ z0, 0.0)[:, None], left_side=True, lower=True
            )[:, 0]
            # sum_j c_j s_{j+1}: the coefficients shifted by one onto the steps
            z = z0 + jnp.concatenate([jnp.zeros((1,), dtype), jnp.where(live, coef, 0.0)[:-1]]) @ steps
            last = steps[jnp.maximum(m - 1, 0)]
            den = 1.0 - jnp.dot(last, z) / norms[jnp.maximum(m - 1, 0)]
            s = jnp.where(m > 0, z / jnp.maximum(den, 0.1), z)
            steps = steps.at[m].set(s)
            norms = norms.at[m].set(jnp.dot(s, s))
            gram = gram.at[m].set(jnp.where(idx < m, jnp.concatenate([(steps @ s)[1:], jnp.zeros((1,), dtype)]), 0.0))
            dx = s[:size_x].reshape(x.shape)
            dZ = s[size_x : size_x + size_z].reshape(Z.shape)
            x, Z, lam = x + dx, Z + dZ, lam + s[-1]
            h, res, res0, ok, done = evaluate(k, x, Z, lam, res0, ok, prev)
            return k + 1, x, Z, lam, h, first, res0, ok, done, res, (steps, norms, gram)

        def cond(c):
            k, *_, ok, done, _, _ = c
            return (k <= corrector_steps) & ok & ~done

        zero = jnp.zeros((), dtype)
        h, res, res0, ok, done = evaluate(0, xp, Zp, lp, zero, jnp.array(True), zero)
        memory = (
            jnp.zeros((K + 1, size_x + size_z + 1), dtype),
            jnp.ones((K + 1,), dtype),
            jnp.zeros((K + 1, K + 1), dtype),
        )
        init = (jnp.ones((), jnp.int32), xp, Zp, lp, h, zero, res0, ok, done, res, memory)
        k, x, Z, lam, _, first, _, ok, done, _, _ = jax.lax.while_loop(cond, step, init)
        return x, Z, lam, first, k, ok & done

    def endgame(x, dx, lam):
        """``(nash log policy, a bound on its nash_conv)``: the polished limit when it passes (near
        the path point and certified at most ``regret_tol``), else the path point."""
        xp, converged = _polish(system, x, *_support(system, x, dx, lam), 16)
        # near: the path approaches its limit like 1 / lambda, so the distance to it is about
        # lambda |d pi / d lambda|; allow three times that (and 0.05)
        slope = lam * jnp.max(jnp.abs(jnp.exp(x) * dx) * system.mask)
        near = jnp.max(jnp.abs(jnp.exp(x) - jnp.exp(jnp.where(jnp.isneginf(xp), -jnp.inf, xp))) * system.mask)
        use = converged & (near <= jnp.maximum(0.05, 3 * slope))
        best = jnp.where(use, xp, x)
        return best, _nash_conv_bound(game, system.policy(best))

    def body(c):
        (x, Z, lam), (tx, tZ, tl), h = c["y"], c["t"], c["h"]
        final = lam + h * tl >= max_lambda
        h_eff = jnp.where(final & (tl > 0), (max_lambda - lam) / jnp.where(tl > 0, tl, 1.0), h)
        # second-order predictor: the curvature from the change of the tangent over the last step
        (px, pZ, pl), hp = c["t_prev"], c["h_prev"]
        w = jnp.where(hp > 0, 0.5 * h_eff * h_eff / jnp.where(hp > 0, hp, 1.0), 0.0)
        xp, Zp, lp = x + h_eff * tx + w * (tx - px), Z + h_eff * tZ + w * (tZ - pZ), lam + h_eff * tl + w * (tl - pl)
        lp = jnp.where(final, max_lambda, lp)
        row_x = jnp.where(final, zeros_x, tx)
        row_l = jnp.where(final, jnp.ones((), dtype), tl)
        fac = system.factor(system.linearize(xp, Zp, lp), row_x, row_l)
        xn, Zn, ln, first, iterations, ok = corrector(fac, xp, Zp, lp, row_x, row_l)
        ok = ok & (first <= corrector_distance)
        # the tangent at the new point: the same factorization (at the predicted point), one chord
        # step of J(y) t = 0 at the corrected point, the previous tangent's orientation
        tn = tangent(fac, lambda ux, ul: jnp.sum(ux * tx) + ul * tl, (xn, Zn, ln))
        first_point = c["count"] == 1  # from t0 = e_lambda, not a tangent: no angle test
        ok = ok & (first_point | ((jnp.sum(tn[0] * tx) + tn[2] * tl) > 0.5)) & jnp.isfinite(tn[2])

        count = c["count"]
        idx = jnp.minimum(count, max_points - 1)
        # the select on the stored row, not on the buffers: an update in place, not a copy per step
        lams = c["lams"].at[idx].set(jnp.where(ok, ln, c["lams"][idx]))
        pols = tuple(b.at[idx].set(jnp.where(ok, p, b[idx])) for b, p in zip(c["pols"], system.policy(xn)))
        count = count + ok.astype(jnp.int32)
        # the end game: from polish_from on, every time lambda has grown by polish_every
        attempt = ok & ((ln >= c["next_polish"]) | final | (count >= max_points))
        attempt = attempt & (tn[2] > 0)
        nash, conv = jax.lax.cond(
            attempt, endgame, lambda x, *_: (x, jnp.asarray(jnp.inf, dtype)), xn, tn[0] / tn[2], ln
        )
        next_polish = jnp.where(attempt, jnp.maximum(c["next_polish"], ln) * polish_every, c["next_polish"])
        # step size: the predictor error grows like h^2, aim the first correction at a quarter of
        # the allowed distance; no growth after a slow corrector
        grow = jnp.sqrt(0.25 * corrector_distance / jnp.maximum(first, 1e-300))
        grow = jnp.where(2 * iterations > corrector_steps, jnp.minimum(grow, 1.0), grow)
        h_next = jnp.where(ok, jnp.minimum(h * jnp.clip(grow, 0.5, max_accel), max_step), h / 2)
        status = jnp.where(
            attempt & (conv <= regret_tol),
            CONVERGED,
            jnp.where(
                ok & final,
                REACHED,
                jnp.where(count >= max_points, OUT_OF_POINTS, jnp.where(h_next < min_step, FAILED, -1)),
            ),
        )
        return {
            "y": jax.tree.map(lambda a, b: jnp.where(ok, a, b), (xn, Zn, ln), (x, Z, lam)),
            "t": jax.tree.map(lambda a, b: jnp.where(ok, a, b), tn, (tx, tZ, tl)),
            "t_prev": jax.tree.map(lambda a, b: jnp.where(ok, a, b), (tx, tZ, tl), c["t_prev"]),
            "h_prev": jnp.where(ok, jnp.where(first_point, 0.0, h_eff), c["h_prev"]),
            "h": h_next,
            "count": count,
            "lams": lams,
            "pols": pols,
            "status": status.astype(jnp.int32),
            "steps": c["steps"] + 1,
            "iterations": c["iterations"] + iterations,
            "attempts": c["attempts"] + attempt.astype(jnp.int32),
            "next_polish": next_polish,
            "nash": jnp.where(attempt, nash, c["nash"]),
            "nash_conv": jnp.where(attempt, conv, c["nash_conv"]),
        }

    init = {
        "y": (x0, Z0, lam0),
        "t": t0,
        "t_prev": t0,
        "h_prev": jnp.zeros((), dtype),
        "h": jnp.asarray(first_step, dtype),
        "count": jnp.asarray(1, jnp.int32),
        "lams": lams,
        "pols": pols,
        "status": jnp.asarray(-1, jnp.int32),
        "steps": jnp.asarray(0, jnp.int32),
        "iterations": jnp.asarray(0, jnp.int32),
        "attempts": jnp.asarray(0, jnp.int32),
        "next_polish": jnp.asarray(polish_from, dtype),
        "nash": x0,
        "nash_conv": jnp.asarray(jnp.inf, dtype),
    }
    out = jax.lax.while_loop(lambda c: c["status"] < 0, body, init)
    # a path that stopped without an end-game attempt (FAILED): its last point
    last = out["y"][0]  # the last accepted point
    attempted = jnp.isfinite(out["nash_conv"])
    nash = jnp.where(attempted & (out["status"] != FAILED), out["nash"], last)
    stats = {k: out[k] for k in ("steps", "iterations", "attempts")}
    return out["lams"], out["pols"], out["count"], out["status"], stats, nash


def qre_path(
    game: MarkovGame,
    reference: Policy | None = None,
    *,
    regularized: bool = False,
    max_lambda=1e6,
    max_regret=None,
    first_step=0.3,
    max_accel=2.0,
    max_step=None,
    min_step=1e-10,
    max_points: int = 2000,
    corrector_steps: int = 12,
    corrector_distance=0.5,
    corrector_tol=1e-9,
    polish_from=10.0,
    polish_every=4.0,
) -> QREPath:
    """Trace the logit QRE branch of a discounted Markov game from ``lambda = 0`` toward a Markov
    perfect equilibrium, with the per-state block structure of the Jacobian (module docstring).

    The end game (module docstring): from ``lambda = polish_from / spread`` on (``spread`` the
    reward spread), and whenever ``lambda`` has grown by ``polish_every`` since, Newton's method
    solves for the Markov perfect equilibrium with the support the path heads for; the path stops
    ``CONVERGED`` when it passes (``nash`` is then that equilibrium, ``nash_conv`` ~1e-14), or when
    the path point's own ``nash_conv`` bound is below ``max_regret`` times the spread. The
    exponential approach to a pure limit and the ``1 / lambda`` one to a mixed limit both end
    there, long before ``max_lambda``.

    Args:
      game: a discounted ``MarkovGame``.
      reference: per player ``[S, A_i]`` reference policy ``rho`` (default uniform).
      regularized: ``False``: the Markov logit QRE (plain continuation values; sgamesolver's
        ``QRE``); ``True``: Cen et al.'s entropy-regularized equilibrium at temperature
        ``1 / lambda`` (``jaxgames.equilibria.qre_path``'s branch).
      max_lambda: stop with the point at exactly this ``lambda`` (``status == REACHED``).
      max_regret: stop when ``nash_conv`` is at most this times the reward spread (``CONVERGED``);
        default ``1e-8`` in float64 and ``1e-4`` in float32 (as ``jaxgames.equilibria.qre_path``).
      first_step, max_accel, max_step, min_step: arclength step sizes in ``(log pi, lambda)``;
        ``max_step`` defaults to ``max(1, max_lambda / 10)``.
      max_points: size of the path buffers (``OUT_OF_POINTS`` when full).
      corrector_steps: corrector iterations (chord Newton with Broyden's updates) per step at most.
      corrector_distance: largest first correction (max norm, log-policy units) of an accepted step.
      corrector_tol: residual (logit units) at which the corrector stops.
      polish_from, polish_every: the end-game schedule above.

    Returns a ``jaxgames.equilibria.QREPath`` (``policies`` per player ``[P, S, A_i]``; every point
    a QRE at its ``lambda``; ``nash`` the polished limit when ``CONVERGED`` by the end game, else the
    last point). Outside ``jit`` a failed path raises a ``ValueError``; under ``jit`` or ``vmap``
    check ``status``.

    Example::

        game = jaxgames.markov.random_general_sum(jax.random.key(0), 64, 4)
        path = jaxgames.markov.qre.qre_path(game)
        path.nash, path.nash_conv      # a Markov perfect equilibrium, nash_conv ~ 0
    """
    _check_discounted(game)
    check_int(max_points, "max_points", 3)
    check_int(corrector_steps, "corrector_steps", 1)
    for name, value in (
        ("max_lambda", max_lambda),
        ("first_step", first_step),
        ("min_step", min_step),
        ("corrector_distance", corrector_distance),
        ("corrector_tol", corrector_tol),
        ("polish_from", polish_from),
    ):
        check_scalar(value, name, low=0, low_open=True)
    if max_regret is not None:
        check_scalar(max_regret, "max_regret", low=0)
    check_scalar(max_accel, "max_accel", low=1)
    check_scalar(polish_every, "polish_every", low=1, low_open=True)
    reference = game.uniform_policy() if reference is None else reference
    expected = [(game.num_states, a) for a in game.num_actions]
    if len(reference) != game.num_players or any(tuple(r.shape) != e for r, e in zip(reference, expected)):
        raise ValueError(
            f"reference: expected one [S, A_i] policy per player, shapes {expected}, "
            f"got {[tuple(jnp.shape(r)) for r in reference]}"
        )
    dtype = jnp.result_type(float)
    if max_regret is None:
        max_regret = 1e-8 if dtype == jnp.float64 else 1e-4
    max_step = jnp.maximum(1.0, jnp.asarray(max_lambda) / 10) if max_step is None else max_step
    floats = dict(
        max_lambda=max_lambda,
        max_regret=max_regret,
        first_step=first_step,
        max_accel=max_accel,
        max_step=max_step,
        min_step=min_step,
        corrector_distance=corrector_distance,
        corrector_tol=corrector_tol,
        polish_from=polish_from,
        polish_every=polish_every,
    )
    floats = {k: jnp.asarray(v, dtype) for k, v in floats.items()}
    result = _path(
        game,
        tuple(jnp.asarray(r, dtype) for r in reference),
        floats,
        regularized=bool(regularized),
        max_points=max_points,
        corrector_steps=corrector_steps,
    )
    lams, count, status = result.inverse_temperatures, result.num_points, result.status
    if is_concrete(status) and int(status) == FAILED:
        raise ValueError(
            f"qre_path: the path failed at lambda = {float(lams[int(count) - 1]):.6g} after {int(count)} points "
            f"(step size below min_step={min_step}): the branch may bifurcate there (a non-generic game); "
            "try a smaller min_step or perturb the payoffs"
        )
    return result


@functools.partial(jax.jit, static_argnames=("regularized", "max_points", "corrector_steps"))
def _path(game: MarkovGame, reference: Policy, f: dict, *, regularized: bool, max_points: int, corrector_steps: int):
    """``qre_path`` past its checks: one compiled program per game structure, dtype and static
    argument (the rewards, transitions, reference and step parameters are traced)."""
    from jaxgames.equilibria.path import _payoff_spread

    mask = jnp.concatenate([r > 0 for r in reference], axis=-1)  # [S, sum_i A_i]
    log_rho = jnp.concatenate([jnp.log(jnp.where(r > 0, r, 1.0)) for r in reference], axis=-1)
    system = _System(game, mask, log_rho, regularized)
    logits = system.split(jnp.where(mask, log_rho, -jnp.inf))
    x0 = jnp.concatenate(
        [
            jnp.where(m, li - jax.nn.logsumexp(li, axis=-1, keepdims=True), 0.0)
            for li, m in zip(logits, system.split(mask))
        ],
        axis=-1,
    )
    spread = _payoff_spread(game)
    lams, policies, count, status, _, nash = _trace(
        system,
        x0,
        game,
        first_step=f["first_step"],
        max_accel=f["max_accel"],
        max_step=f["max_step"],
        min_step=f["min_step"],
        max_lambda=f["max_lambda"],
        regret_tol=f["max_regret"] * spread,
        max_points=max_points,
        corrector_steps=corrector_steps,
        corrector_distance=f["corrector_distance"],
        tol=f["corrector_tol"],
        polish_from=f["polish_from"] / spread,
        polish_every=f["polish_every"],
    )
    nash = system.policy(nash)
    return QREPath(lams, policies, count, nash, game.nash_conv(nash), status)
