#!/usr/bin/env python3
"""The exact flow from Python against the paper's PyTorch training loop on the same model.

Model (S1's): s_A(x, t) = A relu(W x + U e(t) + b) / m, e(t) = t/T, m = 1024, d = 1, the
features drawn by gengap and copied into torch; only A is trained, from A = 0, on the DSM
loss with lambda = sigma_t^2 over n = 1000 training points of 1/2 N(-3, 1) + 1/2 N(3, 1):
  torch: minibatch SGD (batch 64, fresh t ~ U[t_min, T] and eps per step), learning rate eta;
         after k steps it approximates the flow at tau = eta k (SGD is Euler on the flow);
  gengap: the exact flow, L_n(tau) on any grid after one Gram matrix and one eigendecomposition.
Both on 2 threads. Prints the wall time of each and L_n at matched tau (the SGD iterate's L_n
evaluated exactly through the Gram matrix, so the comparison has no Monte Carlo noise of its own).

  PYTHONPATH=build/python OPENBLAS_NUM_THREADS=2 /usr/bin/python3 benchmarks/peers/flow_vs_torch_sgd.py
"""
import time

import gengap  # first: OpenBLAS's fast kernels
import numpy as np
import torch


def main(steps: int = 40000, eta: float = 5000.0, batch: int = 64) -> None:
    gengap.set_num_threads(2)
    torch.set_num_threads(2)
    schedule = gengap.Schedule("ou")
    setup = gengap.DsmSetup(schedule)
    x = gengap.GaussianMixture.two_modes(3.0).sample(1000, seed=1)
    m = 1024
    rf = gengap.draw_random_features(m, 1, gengap.linear_embedding(schedule.T), "relu", "sphere", seed=2)

    start = time.perf_counter()
    train = gengap.gram_matrices(rf, gengap.empirical_monte_carlo(x, 256, setup, seed=3))
    flow = gengap.GradientFlow(train)
    taus = eta * np.unique(np.geomspace(1, steps, 30).astype(int))
    flow_curve = flow.train_loss(taus)
    gengap_seconds = time.perf_counter() - start

    W, U, b = (torch.from_numpy(a) for a in (rf.W, rf.U, rf.b))
    data = torch.from_numpy(x)
    A = torch.zeros(1, m, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([A], lr=eta)
    generator = torch.Generator().manual_seed(0)
    record = set((taus / eta).astype(int).tolist())
    sgd_curve = {}
    start = time.perf_counter()
    for k in range(1, steps + 1):
        x0 = data[torch.randint(0, data.shape[0], (batch,), generator=generator)]
        t = schedule.t_min + (schedule.T - schedule.t_min) * torch.rand(batch, 1, generator=generator, dtype=torch.float64)
        eps = torch.randn(batch, 1, generator=generator, dtype=torch.float64)
        mu, sigma = torch.exp(-t), torch.sqrt(-torch.expm1(-2 * t))
        xt = mu * x0 + sigma * eps
        phi = torch.relu(xt @ W.T + (t / schedule.T) @ U.T + b)
        s = phi @ A.T / m
        loss = 0.5 * ((sigma * s + eps) ** 2).sum(dim=1).mean()  # lambda = sigma^2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if k in record:
            sgd_curve[k] = A.detach().numpy().copy()
    torch_seconds = time.perf_counter() - start

    print(f"gengap exact flow (Gram n K = 256000 rows, eigendecomposition, {len(taus)} taus): {gengap_seconds:.2f} s")
    print(f"torch SGD {steps} steps (batch {batch}, eta {eta:g}, tau up to {eta * steps:.3g}): {torch_seconds:.2f} s")
    print(f"{'tau':>10} {'L_n flow':>12} {'L_n SGD':>12}")
    for tau, exact in zip(taus, flow_curve):
        k = int(round(tau / eta))
        print(f"{tau:10.3g} {exact:12.6f} {train.value(sgd_curve[k]):12.6f}")


if __name__ == "__main__":
    main()
