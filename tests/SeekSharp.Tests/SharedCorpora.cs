namespace SeekSharp.Tests;

/// <summary>The shared corpora (../shared/corpora next to the repository, see its README), which CI has too.</summary>
public static class SharedCorpora
{
    public static string Path()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "SeekSharp.slnx"))) dir = dir.Parent;
        Assert.True(dir is not null, $"no SeekSharp.slnx above {AppContext.BaseDirectory}");
        var corpora = System.IO.Path.GetFullPath(System.IO.Path.Combine(dir!.FullName, "..", "shared", "corpora"));
        Assert.True(Directory.Exists(System.IO.Path.Combine(corpora, "spam-assassin")),
            $"the shared corpora are missing: expected {corpora} (spam-assassin/, sotu/) next to the repository, as CI has them.");
        return corpora;
    }
}
