namespace SeekSharp.Tests;

/// <summary>A fresh folder per test, removed afterwards, so tests never see each other's files.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("seeksharp-test-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>For test classes that need several folders: each is a fresh subfolder of one TempDir, all removed together.</summary>
public abstract class TempDirTest : IDisposable
{
    readonly TempDir root = new();

    protected string NewDir()
    {
        var d = Path.Combine(root.Path, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    public void Dispose()
    {
        root.Dispose();
        GC.SuppressFinalize(this);
    }
}
