"""Whisper-style log-mel features in numpy (no torch), as Smart Turn's encoder expects them.

Whisper's front end: 25 ms periodic-Hann frames every 10 ms (centred, reflect-padded), the power
spectrum through 80 Slaney-normalised mel triangles (0-8 kHz), log10, floored 8 decades below the
peak, then scaled to about [-1, 1]. Before that the waveform is normalised to zero mean and unit
variance, as Smart Turn was trained with. The result matches transformers'
WhisperFeatureExtractor (checked in tests/test_smart_turn.py).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SAMPLE_RATE = 16_000
N_FFT = 400
HOP = 160
N_MELS = 80


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above."""
    hz = np.asarray(hz, np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(hz < 1000.0, 3.0 * hz / 200.0, 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / log_step)


def _mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    mel = np.asarray(mel, np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(mel < 15.0, 200.0 * mel / 3.0, 1000.0 * np.exp(log_step * (mel - 15.0)))


@lru_cache(maxsize=4)
def mel_filters(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangles on the Slaney scale, each scaled to unit area."""
    bins = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2))
    low, centre, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - low) / (centre - low)
    falling = (high - bins[None, :]) / (high - centre)
    triangles = np.clip(np.minimum(rising, falling), 0.0, None)
    return (triangles * (2.0 / (high - low))).astype(np.float32)


@lru_cache(maxsize=4)
def _hann(length: int) -> np.ndarray:
    """Periodic Hann window (the DFT-even form Whisper uses, not numpy's symmetric one)."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)).astype(np.float32)


def fit_window(audio: np.ndarray, seconds: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The last `seconds` of audio, zero-padded at the start when shorter."""
    size = round(seconds * sample_rate)
    audio = np.asarray(audio, np.float32).reshape(-1)[-size:]
    if audio.size < size:
        audio = np.concatenate([np.zeros(size - audio.size, np.float32), audio])
    return audio


def log_mel(audio: np.ndarray, normalize: bool = True) -> np.ndarray:
    """(80, len(audio) // 160) log-mel features of 16 kHz float audio."""
    x = np.asarray(audio, np.float64).reshape(-1)
    if normalize:
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    padded = np.pad(x, N_FFT // 2, mode="reflect")
    frames = sliding_window_view(padded, N_FFT)[::HOP]
    power = np.abs(np.fft.rfft(frames * _hann(N_FFT), axis=1)) ** 2
    mel = mel_filters() @ power[:-1].T.astype(np.float32)  # Whisper drops the last frame
    logs = np.log10(np.maximum(mel, 1e-10))
    logs = np.maximum(logs, logs.max() - 8.0)
    return ((logs + 4.0) / 4.0).astype(np.float32)
