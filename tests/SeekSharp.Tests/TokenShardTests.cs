using System.Buffers.Binary;
using SeekSharp.Data;

namespace SeekSharp.Tests;

/// <summary>Shard writer/reader round trips, atomicity, and rejection of every malformed-file case.</summary>
public class TokenShardTests
{
    [Theory]
    [InlineData(65536, TokenDType.UInt16, 2)]
    [InlineData(100_000, TokenDType.UInt32, 4)]
    public void RoundTrips(int vocab, TokenDType expectedType, int elemSize)
    {
        using var dir = new TempDir();
        var path = dir.File("s.bin");
        var tokens = Enumerable.Range(0, 70_000).Select(i => (int)((i * 7919L) % vocab)).ToArray();
        tokens[5] = vocab - 1;
        using (var w = new TokenShardWriter(path, vocab, "0123456789abcdef"))
        {
            w.Append(tokens.AsSpan(0, 10));
            w.Append(tokens.AsSpan(10)); // spans more than the writer's internal buffer
            Assert.False(File.Exists(path), "the shard must not appear before Complete");
            w.Complete();
        }
        Assert.Equal(64 + tokens.Length * (long)elemSize, new FileInfo(path).Length);

        using var shard = TokenShard.Open(path);
        Assert.Equal(tokens.Length, shard.Count);
        Assert.Equal(vocab, shard.VocabSize);
        Assert.Equal("0123456789abcdef", shard.TokenizerHash);
        Assert.Equal(expectedType, shard.DType);
        Assert.Equal(vocab - 1, shard[5]);
        Assert.Equal(tokens[^1], shard[tokens.Length - 1]);
        var back = new int[tokens.Length - 3];
        shard.Read(3, back);
        Assert.Equal(tokens[3..], back);
        Assert.Throws<ArgumentOutOfRangeException>(() => shard[tokens.Length]);
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void EmptyShardAndShortHashRoundTrip()
    {
        using var dir = new TempDir();
        var path = dir.File("empty.bin");
        using (var w = new TokenShardWriter(path, 10, "abc")) w.Complete();
        using var shard = TokenShard.Open(path);
        Assert.Equal(0, shard.Count);
        Assert.Equal("abc", shard.TokenizerHash);
        shard.Read(0, Span<int>.Empty);
    }

    [Fact]
    public void RejectsOutOfRangeIdsAndDisposeWithoutCompleteLeavesNothing()
    {
        using var dir = new TempDir();
        var path = dir.File("s.bin");
        using (var w = new TokenShardWriter(path, 100, "ff"))
        {
            w.Append([1, 2, 3]);
            var ex = Assert.Throws<SeekSharpException>(() => w.Append([4, 100]));
            Assert.Contains("100", ex.Message);
            Assert.Contains("s.bin", ex.Message);
            Assert.Throws<SeekSharpException>(() => w.Append([-1]));
        }
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    private static byte[] ValidShard(int count = 4, int dtype = 1, int vocab = 50)
    {
        var bytes = new byte[64 + count * (dtype == 1 ? 2 : 4)];
        "SEEKTOK1"u8.CopyTo(bytes);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), 1);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(12), dtype);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(16), count);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(24), vocab);
        "abcd"u8.CopyTo(bytes.AsSpan(28));
        return bytes;
    }

    public static TheoryData<string, byte[], string> Corrupt()
    {
        var wrongMagic = ValidShard(); wrongMagic[0] = (byte)'X';
        var version = ValidShard(); BinaryPrimitives.WriteInt32LittleEndian(version.AsSpan(8), 2);
        var dtype = ValidShard(); BinaryPrimitives.WriteInt32LittleEndian(dtype.AsSpan(12), 3);
        var vocab = ValidShard(vocab: 0);
        var truncated = ValidShard()[..^1];
        var negative = ValidShard(); BinaryPrimitives.WriteInt64LittleEndian(negative.AsSpan(16), -1);
        return new()
        {
            { "short", new byte[10], "too short" },
            { "magic", wrongMagic, "magic" },
            { "version", version, "version 2" },
            { "dtype", dtype, "dtype code 3" },
            { "vocab", vocab, "vocabulary size 0" },
            { "truncated", truncated, "should be 72 bytes, but it is 71 bytes" },
            { "negative", negative, "-1" },
        };
    }

    [Theory]
    [MemberData(nameof(Corrupt))]
    public void RejectsCorruptShard(string label, byte[] bytes, string fragment)
    {
        using var dir = new TempDir();
        var path = dir.File($"corrupt-{label}.bin");
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<SeekSharpException>(() => TokenShard.Open(path));
        Assert.Contains($"corrupt-{label}.bin", ex.Message);
        Assert.Contains(fragment, ex.Message);
    }

    [Fact]
    public void RejectsMissingShardAndAcceptsHandBuiltOne()
    {
        using var dir = new TempDir();
        var ex = Assert.Throws<SeekSharpException>(() => TokenShard.Open(dir.File("nope.bin")));
        Assert.Contains("nope.bin", ex.Message);

        var path = dir.File("hand.bin");
        var bytes = ValidShard(count: 2, dtype: 2);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(64), 7);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(68), 42);
        File.WriteAllBytes(path, bytes);
        using var shard = TokenShard.Open(path);
        Assert.Equal((7, 42, "abcd"), (shard[0], shard[1], shard.TokenizerHash));
    }
}
