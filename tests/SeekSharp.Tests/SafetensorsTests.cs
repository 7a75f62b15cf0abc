using System.Buffers.Binary;
using System.Text;
using SeekSharp.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace SeekSharp.Tests;

/// <summary>Round trips per dtype, exact on-disk bytes, and rejection of every malformed-file case.</summary>
public class SafetensorsTests
{
    public static TheoryData<string> DTypes => new() { "F32", "BF16", "F16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL" };

    private static ScalarType TypeOf(string name) => name switch
    {
        "F32" => float32, "BF16" => bfloat16, "F16" => float16, "F64" => float64,
        "I64" => int64, "I32" => int32, "I16" => int16, "I8" => int8, "U8" => uint8, "BOOL" => @bool,
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(DTypes))]
    public void RoundTripsEachDType(string dtypeName)
    {
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        var type = TypeOf(dtypeName);
        var matrix = (arange(0, 12, dtype: float32).reshape(3, 4) - 5).to_type(type);
        var scalar = tensor(3f).to_type(type);
        var emptyT = zeros(new long[] { 0, 5 }, dtype: type);
        // A transposed view is not contiguous: the writer must still store row-major bytes.
        var view = matrix.t();
        // Larger than the 1 MiB copy buffer, so streaming in chunks is exercised both ways.
        var big = (arange(0, 300_000, dtype: int64) % 100).to_type(type);
        var input = new Dictionary<string, Tensor> { ["m"] = matrix, ["s"] = scalar, ["e"] = emptyT, ["v"] = view, ["big"] = big };

        var path = dir.File("model.safetensors");
        Safetensors.Save(path, input);
        var loaded = Safetensors.Load(path);

        Assert.Equal(input.Keys.Order(), loaded.Keys.Order());
        foreach (var (name, expected) in input)
        {
            var got = loaded[name];
            Assert.Equal(type, got.dtype);
            Assert.Equal(expected.shape, got.shape);
            Assert.True(expected.to_type(float64).eq(got.to_type(float64)).all().item<bool>(), $"{dtypeName} tensor {name} differs");
        }
        Assert.Empty(loaded["s"].shape);
        foreach (var t in loaded.Values) t.Dispose();
    }

    [Fact]
    public void MetadataRoundTrips()
    {
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        var path = dir.File("m.safetensors");
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["step"] = "1200", ["note"] = "ünïcode \"quoted\"" };
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["wé.weight"] = ones(2) }, meta);
        var (tensors, metadata) = Safetensors.LoadWithMetadata(path);
        Assert.Equal(meta.OrderBy(kv => kv.Key), metadata.OrderBy(kv => kv.Key));
        Assert.Equal("wé.weight", Assert.Single(tensors).Key);
        Assert.Empty(Safetensors.LoadWithMetadata(Save(dir, "nometa", ones(1))).Metadata);
    }

    [Fact]
    public void WritesExactlyTheSpecifiedBytes()
    {
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        var path = dir.File("tiny.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["a"] = tensor(new[] { 1f, 2f }) });

        // Hand-built: the JSON is 54 bytes, padded with 2 spaces to 56; then 1.0f and 2.0f little-endian.
        const string json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        Assert.Equal(54, json.Length);
        var expected = new List<byte> { 56, 0, 0, 0, 0, 0, 0, 0 };
        expected.AddRange(Encoding.ASCII.GetBytes(json + "  "));
        expected.AddRange(new byte[] { 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x40 });
        Assert.Equal(expected.ToArray(), File.ReadAllBytes(path));
    }

    [Fact]
    public void FailedSaveLeavesExistingFileUntouched()
    {
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        var path = Save(dir, "good.safetensors", ones(3));
        var before = File.ReadAllBytes(path);
        var bad = new Dictionary<string, Tensor> { ["ok"] = ones(2), ["bad"] = ones(2, dtype: complex64) };
        var ex = Assert.Throws<SeekSharpException>(() => Safetensors.Save(path, bad));
        Assert.Contains("good.safetensors", ex.Message);
        Assert.Contains("'bad'", ex.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    public static TheoryData<string, string, string> MalformedHeaders => new()
    {
        { "not json", "{\"a\":", "not valid JSON" },
        { "not object", "[1,2]", "must be a JSON object" },
        { "no dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "'dtype'" },
        { "no shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", "'shape'" },
        { "no offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", "'data_offsets'" },
        { "unknown dtype", "{\"a\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,4]}}", "unknown dtype 'F8'" },
        { "negative shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "negative dimension" },
        { "past buffer", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "run past the data buffer" },
        { "end before begin", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", "before begin" },
        { "size mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", "needs 8 bytes" },
        { "gap at start", "{\"a\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[2,4]}}", "gap" },
        { "gap at end", "{\"a\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[0,2]}}", "cover only 2" },
        { "overlap", "{\"a\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[2,4]}}", "overlaps" },
        { "bad metadata", "{\"__metadata__\":{\"k\":1},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "must be a string" },
    };

    [Theory]
    [MemberData(nameof(MalformedHeaders))]
    public void RejectsMalformedHeader(string label, string json, string expectedFragment)
    {
        using var dir = new TempDir();
        var path = dir.File($"bad-{label.Replace(' ', '_')}.safetensors");
        var header = Encoding.UTF8.GetBytes(json);
        var bytes = new byte[8 + header.Length + 4]; // every case has a 4-byte data buffer
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);

        var ex = Assert.Throws<SeekSharpException>(() => Safetensors.Load(path));
        Assert.Contains(Path.GetFileName(path), ex.Message);
        Assert.Contains(expectedFragment, ex.Message);
    }

    [Fact]
    public void RejectsMissingShortAndAbsurdFiles()
    {
        using var dir = new TempDir();
        var missing = dir.File("missing.safetensors");
        Assert.Contains("missing.safetensors", Assert.Throws<SeekSharpException>(() => Safetensors.Load(missing)).Message);

        var shortFile = dir.File("short.safetensors");
        File.WriteAllBytes(shortFile, [1, 2, 3]);
        Assert.Contains("short.safetensors", Assert.Throws<SeekSharpException>(() => Safetensors.Load(shortFile)).Message);

        var tooLong = dir.File("toolong.safetensors");
        File.WriteAllBytes(tooLong, [100, 0, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'}']);
        var ex = Assert.Throws<SeekSharpException>(() => Safetensors.Load(tooLong));
        Assert.Contains("toolong.safetensors", ex.Message);
        Assert.Contains("larger than", ex.Message);

        var absurd = dir.File("absurd.safetensors");
        File.WriteAllBytes(absurd, [0, 0, 0, 0, 0, 0, 0, 1, (byte)'{', (byte)'}']);
        ex = Assert.Throws<SeekSharpException>(() => Safetensors.Load(absurd));
        Assert.Contains("absurd.safetensors", ex.Message);
        Assert.Contains("limit", ex.Message);
    }

    private static string Save(TempDir dir, string name, Tensor t)
    {
        var path = dir.File(name);
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["t"] = t });
        return path;
    }
}
