namespace SeekSharp.Distributed;

// The grain is the run's address on the cluster; its state is the hub process's Coordinator (one per silo, and the
// hub runs one silo), because the outer step, evaluation and checkpoint run on the hub's own thread and must not
// hold the grain's turn. Every method here is a quick, locked call into it.

public sealed class CoordinatorGrain(Coordinator coordinator) : Grain, ICoordinatorGrain
{
    public Task<JoinReply> Join(JoinRequest request) => Task.FromResult(coordinator.Join(request));
    public Task<RoundTicket> Poll(string session) => Task.FromResult(coordinator.Poll(session));
    public Task<PayloadInfo> Weights(string session, long haveVersion) => Task.FromResult(coordinator.Weights(session, haveVersion));
    public Task<Chunk> WeightsChunk(string session, string payloadId, int index) => Task.FromResult(coordinator.WeightsChunk(session, payloadId, index));
    public Task<bool> Upload(string session, int round, Chunk chunk) => Task.FromResult(coordinator.Upload(session, round, chunk));
    public Task<CommitReply> Commit(string session, UpdateSummary summary) => Task.FromResult(coordinator.Commit(session, summary));
    public Task<PayloadInfo> TokenizerFile(string token, string file) => Task.FromResult(coordinator.TokenizerFile(token, file));
    public Task<Chunk> TokenizerChunk(string token, string file, int index) => Task.FromResult(coordinator.TokenizerChunk(token, file, index));
}
