using static TorchSharp.torch;

namespace SeekSharp.Training;

/// <summary>Next-token cross-entropy with ignored positions (padding, and prompt tokens in SFT).</summary>
public static class LmLoss
{
    /// <summary>Target id meaning "no loss here" (PyTorch's default ignore_index).</summary>
    public const long Ignore = -100;

    /// <summary>Sum of cross-entropy over positions whose target is not <see cref="Ignore"/>.</summary>
    /// <param name="logits">(B, T, V) fp32.</param>
    /// <param name="targets">(B·T) int64.</param>
    public static Tensor Sum(Tensor logits, Tensor targets) =>
        nn.functional.cross_entropy(logits.view(-1, logits.shape[^1]), targets, ignore_index: Ignore, reduction: nn.Reduction.Sum);
}
