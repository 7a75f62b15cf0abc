using TorchSharp;

namespace SeekSharp.Checkpoints;

// Design: the safetensors dtype names are a closed list from the spec; keeping the mapping in one
// table means the writer and the reader can never disagree about a name or an element size.
internal static class SafetensorsDType
{
    private static readonly (string Name, torch.ScalarType Type, int Size)[] Table =
    [
        ("F64", torch.ScalarType.Float64, 8),
        ("F32", torch.ScalarType.Float32, 4),
        ("F16", torch.ScalarType.Float16, 2),
        ("BF16", torch.ScalarType.BFloat16, 2),
        ("I64", torch.ScalarType.Int64, 8),
        ("I32", torch.ScalarType.Int32, 4),
        ("I16", torch.ScalarType.Int16, 2),
        ("I8", torch.ScalarType.Int8, 1),
        ("U8", torch.ScalarType.Byte, 1),
        ("BOOL", torch.ScalarType.Bool, 1),
        // TorchSharp names no float8 type: an F8_E4M3 tensor (DeepSeek-V3's FP8 weights) is read as its raw bytes,
        // and the entry keeps the name so the loader knows what the bytes mean (Compression/Fp8E4M3). After U8, so
        // that a byte tensor is written as U8 unless the writer is told otherwise.
        (Fp8E4M3, torch.ScalarType.Byte, 1),
    ];

    public const string Fp8E4M3 = "F8_E4M3";

    public static string Names => string.Join(", ", Table.Select(e => e.Name));

    public static bool TryFromName(string name, out torch.ScalarType type, out int size)
    {
        foreach (var e in Table)
        {
            if (e.Name == name) { type = e.Type; size = e.Size; return true; }
        }
        type = default;
        size = 0;
        return false;
    }

    public static bool TryFromType(torch.ScalarType type, out string name, out int size)
    {
        foreach (var e in Table)
        {
            if (e.Type == type) { name = e.Name; size = e.Size; return true; }
        }
        name = "";
        size = 0;
        return false;
    }
}
