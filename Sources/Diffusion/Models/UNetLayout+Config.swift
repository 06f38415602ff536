extension UNetLayout {
    /// The layout a validated config describes.
    init(_ config: UNet2DConditionConfig) throws {
        try config.validate()
        let count = config.blockOutChannels.count
        let heads = config.headCounts
        levels = (0..<count).map { i in
            Level(channels: config.blockOutChannels[i], layers: config.layersPerBlock[i], heads: heads[i],
                  crossAttention: config.downBlockTypes[i].hasCrossAttention,
                  onlyCrossAttention: config.onlyCrossAttention[i],
                  transformerDepth: config.transformerLayersPerBlock[i])
        }
        upCrossAttention = config.upBlockTypes.map(\.hasCrossAttention)
        inChannels = config.inChannels
        outChannels = config.outChannels
        contextDim = config.crossAttentionDim
        groups = config.normNumGroups
        eps = config.normEps
        linearProjection = config.useLinearProjection
        flipSinToCos = config.flipSinToCos
        freqShift = config.freqShift
        downsamplePadding = config.downsamplePadding
        timeEmbeddingChannels = config.timeEmbeddingChannels
        if config.additionEmbedType == "text_time", let width = config.additionTimeEmbedDim,
           let input = config.projectionClassEmbeddingsInputDim {
            textTime = TextTimeEmbedding(timeIdWidth: width, inputWidth: input)
        } else {
            textTime = nil
        }
        guidanceEmbeddingWidth = config.timeCondProjDim
    }
}
