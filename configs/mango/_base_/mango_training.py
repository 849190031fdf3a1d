# What every MANGO config trains with (the authors' settings): the Gaussian radius of the grid's
# centre cells (`sigma`, relative to the word's size), the focal loss of the cells' text scores,
# the Dice loss of the instance masks (weight 3), and recognition read at every text cell.
mango_training = dict(
    sigma=0.2,
    loss_cate=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                   loss_weight=1.0),
    loss_mask=dict(type='mmdet.DiceLoss', use_sigmoid=True, loss_weight=3.0),
    # Every text cell reads its word (distillation reads centre cells); 'centre' saves memory.
    rec_train_cells='positive')
