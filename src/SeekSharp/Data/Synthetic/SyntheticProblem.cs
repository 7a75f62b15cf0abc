namespace SeekSharp.Data.Synthetic;

/// <summary>A generated problem with a verifiable answer and a worked solution.</summary>
/// <param name="Prompt">The question as a user would ask it.</param>
/// <param name="Solution">Step-by-step working that ends in the answer.</param>
/// <param name="Answer">The exact answer, as a verifier compares it.</param>
/// <param name="Checker">Id of the verifier that judges answers to this problem.</param>
public sealed record SyntheticProblem(string Prompt, string Solution, string Answer, string Checker)
{
    /// <summary>The problem as one pretraining document.</summary>
    public string ToDocument() => $"Problem: {Prompt}\nSolution: {Solution}\nAnswer: {Answer}\n";
}
